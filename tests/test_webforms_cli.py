"""``trellis forms list`` and ``trellis forms snippet``: the config's web forms and the HTML that
embeds one in the company's site (exit code and output; no database)."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli import main
from tests.conftest import CONFIGS

SAAS = str(CONFIGS / "sample_saas.yaml")


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_list_names_each_form_its_object_and_where_it_may_be_embedded():
    result = run("forms", "list", SAAS)
    assert result.exit_code == 0
    assert (
        "contact_us: lead — Talk to CloudSail (/f/contact_us; embedded by https://www.cloudsail.example)"
        in result.output
    )


def test_snippet_prints_the_script_and_a_link_for_visitors_without_javascript():
    result = run("forms", "snippet", SAAS, "contact_us", "--url", "https://crm.example.com/", "--lang", "zh")
    assert result.exit_code == 0
    assert result.output == (
        '<script src="https://crm.example.com/f/contact_us/embed.js" data-form="contact_us" '
        'data-title="联系云帆" async></script>\n'
        '<noscript><a href="https://crm.example.com/f/contact_us?lang=zh">联系云帆</a></noscript>\n'
    )


def test_snippet_refuses_an_unknown_form_and_an_address_that_is_not_http():
    unknown = run("forms", "snippet", SAAS, "contact", "--url", "https://crm.example.com")
    assert unknown.exit_code == 1 and "unknown form 'contact'; the config's forms: contact_us" in unknown.output
    bad = run("forms", "snippet", SAAS, "contact_us", "--url", "crm.example.com")
    assert bad.exit_code == 1 and "is not the http(s) address of Trellis" in bad.output
