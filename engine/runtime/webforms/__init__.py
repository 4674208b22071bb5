"""Web forms (issue 16 §1, S14): public forms that write records, and the spam they refuse.

- ``submit``: a visitor's submission → values for the write path (the form's fields, fixed
  values, what the visit told, the campaign) written as the form's user (else the system acting
  as ``web_form:<form>``) on channel ``web_form``; a match of a duplicate rule updates, links or creates as the form says;
  ``accepted`` is the one place a submission succeeds;
- ``rejections``: ``sys_form_rejections`` — spam kept with its reason, time, address and values,
  listed for admins (``manage_config``) and accepted anyway through ``submit``.

The checks that tell spam (signed token, fill time, honeypot, challenge, rate and size limits)
are HTTP's and live in ``webui.ui.webforms``; each refusal is recorded here.
"""
