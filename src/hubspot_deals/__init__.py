"""hubspot-deals: extract every deal from HubSpot CRM portals and serve them through a REST job API."""

__version__ = "0.1.0"
