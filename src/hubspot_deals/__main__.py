from hubspot_deals.cli import app

app(prog_name="hubspot-deals")
