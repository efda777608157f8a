"""English and French on a real app and database: the language comes from ?lang= (remembered in a cookie), the cookie,
Accept-Language, else English; pages, problem+json messages, dates and numbers follow it; record content does not."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from babel.dates import format_date

from portal.app import services_of
from tests.functional.catalog_helpers import load_file, write_records
from tests.support.users import make_user, sign_in, token_for

FR = {"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"}


def _records() -> list[dict]:
    return [
        {
            "recid": 8101,
            "title": "Muon pairs from Run2012B",
            "type": {"primary": "Dataset", "secondary": ["Collision"]},
            "experiment": ["CMS"],
            "date_published": "2024-06-01",
            "distribution": {"number_events": 1234567, "number_files": 2, "size": 2_500_000},
            "files": [{"key": "file-0.root", "size": 1_234_567, "checksum": "adler32:0a0b0c0d"}],
            "abstract": {"description": "Events with two muons."},
        },
        {
            "recid": 8102,
            "title": "Dimuon spectrum notebook",
            "type": {"primary": "Software", "secondary": ["Analysis"]},
            "date_published": "2024-07-01",
        },
    ]


@pytest.fixture
def app(app, tmp_path):
    load_file(services_of(app), write_records(tmp_path / "languages.json", _records()))
    return app


def _html(response) -> str:
    assert response.headers["Content-Type"].startswith("text/html"), response.headers["Content-Type"]
    return response.get_data(as_text=True)


def test_pages_render_in_french_from_accept_language(client):
    home = _html(client.get("/", headers=FR))
    assert '<html lang="fr">' in home
    assert "Passer au contenu" in home and "Rechercher" in home and "Skip to content" not in home
    assert "Données de physique des particules en accès libre" in home

    search = _html(client.get("/search?q=muon", headers=FR))
    assert "Trier par" in search and "Filtres" in search and "1 résultat" in search
    assert "Muon pairs from Run2012B" in search  # content stays in its own language

    record = _html(client.get("/record/8101", headers=FR))
    assert "Citer comme" in record and "Fichiers" in record and "Caractéristiques du jeu de données" in record
    # numbers and dates in French: a narrow no-break space groups thousands, the month is a French word
    assert "1\u202f234\u202f567 événements" in record
    assert "1,2\u00a0Mo" in record  # 1,234,567 bytes
    assert "juin 2024" in record
    assert "Events with two muons." in record

    signin = _html(client.get("/signin", headers=FR))
    assert "Se connecter" in signin and "Mot de passe" in signin

    education = _html(client.get("/education", headers=FR))
    assert "Enseignement" in education and "Élèves" in education


def test_english_is_the_default_and_the_fallback(client):
    plain = _html(client.get("/record/8101"))
    assert '<html lang="en">' in plain and "Cite as" in plain and "1,234,567 events" in plain
    assert "Jun 1, 2024" in plain
    other = _html(client.get("/", headers={"Accept-Language": "de-DE, ja"}))
    assert '<html lang="en">' in other and "Skip to content" in other


def test_the_url_chooses_and_the_cookie_remembers(client):
    # an unknown language in the URL is ignored (and not remembered), as is one in the cookie
    odd = client.get("/?lang=xx", headers=FR)
    assert '<html lang="fr">' in _html(odd) and "Set-Cookie" not in odd.headers
    client.set_cookie("portal_lang", "xx")
    assert '<html lang="fr">' in _html(client.get("/", headers=FR))
    chosen = client.get("/search?lang=fr", headers={"Accept-Language": "en"})
    assert '<html lang="fr">' in _html(chosen)
    cookie = chosen.headers["Set-Cookie"]
    assert cookie.startswith("portal_lang=fr") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # the next page, without ?lang, follows the cookie over the browser's Accept-Language
    assert '<html lang="fr">' in _html(client.get("/", headers={"Accept-Language": "en"}))
    back = client.get("/?lang=en", headers=FR)
    assert '<html lang="en">' in _html(back) and back.headers["Set-Cookie"].startswith("portal_lang=en")
    assert '<html lang="en">' in _html(client.get("/", headers=FR))


def test_the_switch_links_to_this_page_in_the_other_language(client):
    html = _html(client.get("/search?q=muon&type=Dataset"))
    link = re.search(r'<a href="([^"]+)" hreflang="fr" lang="fr"[^>]*>Français</a>', html)
    assert link, "no link to the French page"
    href = link.group(1).replace("&amp;", "&")
    assert href.startswith("/search?") and "q=muon" in href and "type=Dataset" in href and "lang=fr" in href
    french = _html(client.get(href))
    assert '<html lang="fr">' in french and 'hreflang="en"' in french


def test_problem_messages_in_french(client):
    missing = client.get("/api/records/999999", headers=FR)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    body = missing.get_json()
    assert body["title"] == "Introuvable"
    assert body["detail"] == "enregistrement 999999: il n'existe pas d'enregistrement 999999"
    # the same problem in English, for a client that asks for nothing else
    english = client.get("/api/records/999999").get_json()
    assert english["title"] == "Not found" and english["detail"] == "record 999999: there is no record 999999"
    # a werkzeug error (no route) and a bad query, in French too
    nowhere = client.get("/api/nowhere", headers=FR).get_json()
    assert nowhere["title"] == "Introuvable" and nowhere["detail"] == "Il n'y a rien à cette adresse."
    bad = client.get('/search?q=title:"unclosed', headers=FR)
    assert bad.status_code == 400 and "guillemet" in _html(bad)
    unauthorized = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": 8101}, headers=FR)
    assert unauthorized.status_code == 401
    assert (
        unauthorized.get_json()["title"] == "Non authentifié" and "connectez-vous" in unauthorized.get_json()["detail"]
    )
    assert "Accept-Language" in missing.headers["Vary"]


def test_a_signed_in_page_with_dates_in_french(app, client):
    user = make_user(app, "amelie")
    token_for(app, ["launch"], username="amelie")
    sign_in(client, user)
    html = _html(client.get("/settings/tokens", headers=FR))
    assert "Jetons d'accès personnels" in html and "Créer un jeton" in html and "90 jours" in html
    # the token's creation day, as a French reader writes it ("2 déc. 2026")
    today = datetime.now(UTC).date()
    assert f"<td>{format_date(today, 'medium', locale='fr')}</td>" in html
    assert f"<td>{format_date(today, 'medium', locale='en')}</td>" in _html(client.get("/settings/tokens"))


def test_a_refused_form_says_why_in_french(app, client):
    make_user(app, "bruno", password="correct horse battery")
    token = re.search(r'name="csrf_token" value="([^"]+)"', _html(client.get("/signin", headers=FR))).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "username": "bruno", "password": "wrong guess"}
    refused = client.post("/signin", data=form, headers=FR)
    assert refused.status_code == 401
    assert ">nom d&#39;utilisateur ou mot de passe incorrect</p>" in _html(refused)


@pytest.mark.parametrize("app_settings", [{"deposit_owners_publish": True}])
def test_the_status_of_a_draft_file_is_french(app, client):
    import io

    svc = services_of(app)
    user = make_user(app, "chloe")
    alice = svc.users.by_username("chloe").principal()
    metadata = {"title": "Brouillon", "type": {"primary": "Dataset"}, "date_published": "2026-12-01"}
    recid = svc.deposit.create(metadata, actor=alice).recid
    svc.deposit.put_file(recid, "notes.txt", io.BytesIO(b"notes\n"), actor=alice)
    sign_in(client, user)
    html = _html(client.get(f"/deposit/{recid}", headers=FR))
    row = re.search(r'<tr data-key="notes.txt">.*?</tr>', html, re.S).group(0)  # type: ignore[union-attr]
    assert "<td>complet</td>" in row  # the file's status, not "completed"
    assert "<td>complet</td>" in html.split('id="draft-file-row"')[1]  # and the row the upload script adds
