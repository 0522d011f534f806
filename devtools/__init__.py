"""Development and benchmark tools, outside the production apps.

Seeding at scale (``seed_scale``), the demo clinic (``load_demo``), the local servers that stand in
for the email and SMS providers, and the processes the tests and benchmarks start. Listed in
INSTALLED_APPS only so that its management commands run; no production app imports it.
"""
