"""What the lab's administrators see and run: the admin pages, the Prometheus endpoint and the server-side admin
commands. They build on the web's shared core (``webapp.*`` modules) and never import ``webapp.api`` or
``webapp.pages``; their templates and styles are ``templates/admin/`` and ``static/admin/``."""
