"""``GET /metrics`` for Prometheus: with ``Authorization: Bearer $LABQUEUE_METRICS_TOKEN``, or as a logged-in admin.

Metrics name users' projects nowhere, but they do tell how busy the lab is; so they are not public.
"""

from __future__ import annotations

from flask import Blueprint, Response
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from webapp.admin.collector import LabqueueCollector
from webapp.auth import metrics_token_matches
from webapp.services import services

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    if not metrics_token_matches():
        if not current_user.is_authenticated:
            challenge = {"WWW-Authenticate": 'Bearer realm="labqueue metrics"'}
            message = "send Authorization: Bearer <LABQUEUE_METRICS_TOKEN>, or log in as an admin\n"
            return Response(message, 401, challenge, mimetype="text/plain")
        if not current_user.is_admin:
            return Response("metrics are for admins\n", 403, mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LabqueueCollector(services().db, services().publisher.config))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
