"""Development tools: seeding at scale, demo data and stand-in servers; never imported by the apps."""
