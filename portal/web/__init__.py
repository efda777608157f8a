"""Web layer: blueprints that parse requests, call one service and render. No SQL or file I/O here."""

from __future__ import annotations

from flask import Flask, current_app

from portal.services import Services
from portal.web.request import refuse_nul_bytes


def services() -> Services:
    return current_app.extensions["portal"]


def register_blueprints(app: Flask) -> None:
    from portal.web import (
        accounts,
        api,
        citations,
        csrf,
        deposit,
        deposit_pages,
        education,
        exports,
        files,
        headers,
        i18n,
        limits,
        openapi,
        ops,
        pages,
        people,
        pids,
        problems,
        review,
        stats,
        tus,
        zenodo,
    )
    from portal.web.request import IdConverter, check_path_ids

    i18n.register(app)
    problems.register(app)
    headers.register(app)
    limits.register(app)
    ops.register(app)
    app.before_request(refuse_nul_bytes)
    csrf.register(app)
    # Before any blueprint adds its routes: every `<int:...>` is bounded (huge or negative ids answer 404).
    app.url_map.converters["int"] = IdConverter
    app.url_value_preprocessor(check_path_ids)

    @app.context_processor
    def _site() -> dict[str, object]:
        return {"site_name": services().settings.site_name, **accounts.header_identity()}

    app.register_blueprint(api.bp)
    app.register_blueprint(deposit.bp)
    app.register_blueprint(deposit_pages.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(tus.bp)
    app.register_blueprint(zenodo.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(education.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(pids.bp)
    app.register_blueprint(citations.bp)

    from portal.web import hooks

    app.register_blueprint(hooks.bp)

    from portal.web import analyse, analyses

    app.register_blueprint(analyses.bp)
    app.register_blueprint(analyse.bp)

    from portal.web import launch

    app.register_blueprint(launch.bp)

    from portal.web import jobs

    app.register_blueprint(jobs.bp)

    from portal.web import oauth

    oauth.init_app(app)
