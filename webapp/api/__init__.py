"""The REST API under /api/v1, for scripts and the command-line client: jobs, datasets, live events, the OpenAPI
document. It builds on the web's shared core (``webapp.*`` modules) and never imports ``webapp.pages`` or
``webapp.admin``."""
