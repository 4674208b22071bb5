"""The HTML a company pastes into its own site to show a web form (``trellis forms snippet``).

A script tag that puts the form in an iframe (``webui/static/webform-embed.js``: the page's UTM
parameters, address and referrer are passed on, the frame is sized to the form), and for visitors
without JavaScript a link to the form's own page. The form's ``origins`` must list the site, or
browsers refuse to show the frame (CSP ``frame-ancestors``).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from engine.metadata.model import WebForm


class BadBaseUrl(ValueError):
    """The Trellis address is not an http(s) origin."""


def snippet(form: WebForm, base_url: str, language: str = "en") -> str:
    """The snippet of ``form`` served by the Trellis at ``base_url`` (``https://crm.example.com``)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadBaseUrl(f"{base_url!r} is not the http(s) address of Trellis, e.g. https://crm.example.com")
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    page = f"{base}/f/{form.name}"
    title = escape(form.label.get(language))
    return (
        f'<script src="{page}/embed.js" data-form="{form.name}" data-title="{title}" async></script>\n'
        f'<noscript><a href="{page}?lang={language}">{title}</a></noscript>\n'
    )
