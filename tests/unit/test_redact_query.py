"""Credentials in query strings never reach the access log (`portal.stack.redact_query`)."""

from portal.stack import redact_query


def test_token_values_are_redacted_and_the_rest_kept():
    line = "GET /api/deposit/depositions?page=2&access_token=abc.DEF-123&size=5 HTTP/1.1"
    assert redact_query(line) == "GET /api/deposit/depositions?page=2&access_token=[redacted]&size=5 HTTP/1.1"
    assert redact_query("token=xyz") == "token=[redacted]"
    assert redact_query("q=access_token") == "q=access_token"  # a search for the word is not a credential
