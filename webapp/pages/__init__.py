"""The researchers' HTML pages: upload, results, one job, datasets, the account page. They build on the web's
shared core (``webapp.*`` modules) and never import ``webapp.api`` or ``webapp.admin``; their templates and
scripts are ``templates/pages/`` and ``static/pages/``."""
