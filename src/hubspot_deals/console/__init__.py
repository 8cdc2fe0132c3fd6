"""``hubspot-deals scan ...``: the command line of a running service, over its REST API only.

It shares no code with the service beyond the package: what it knows of the service is the API's
JSON, as any other client would (``api_client``), so it works against any deployment.
"""
