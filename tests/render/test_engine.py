"""The template engine's faster paths: each writes exactly what Jinja and markupsafe write."""

from __future__ import annotations

from decimal import Decimal

import jinja2
import markupsafe
import pytest
from markupsafe import Markup

from publisher.render.engine import OutputTemplate, escape_output, safe_text


class _Html:
    def __html__(self) -> str:
        return "<i>own</i>"

    def __repr__(self) -> str:  # the test's id: the same in every process (pytest-xdist)
        return "_Html()"


class _Text(str):
    pass


VALUES = ["", "plain", "<a href='x' title=\"y\">&amp;</a>", "★ →", Markup("<b>&amp;</b>"),
          1975, -3, 10**30, 3.5, Decimal("3.5"), None, True, _Html(), _Text("<s>"), ("a", "<b>")]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_escape_output_writes_what_escape_writes(value):
    assert escape_output(value) == str(markupsafe.escape(value))


def test_safe_text_is_the_markup_of_its_text():
    made = safe_text("<p>a &amp; b</p>")
    assert type(made) is Markup and made == Markup("<p>a &amp; b</p>")
    assert str(markupsafe.escape(made)) == "<p>a &amp; b</p>"  # not escaped again
    # safe_text makes a Markup without Markup.__new__: Markup must hold nothing but its text.
    assert not hasattr(made, "__dict__")


# Each place a template writes a value: the page, a block, a macro, a call block, a {% set %}
# block, a filter block, an include, a loop; and the values read back (|length, ~, is string).
TEMPLATES = {
    "page.html": """{% extends "base.html" %}{% block main %}{{ x }}|{{ super() }}{% endblock %}""",
    "base.html": """<h1>{{ x }}</h1>{% block main %}[{{ m }}]{% endblock %}
{%- macro show(v) %}<b>{{ v }}</b>{{ caller() if caller is defined else "" }}{% endmacro %}
{{ show(x) }}{% call show(m) %}{{ x }}{% endcall %}
{%- set held %}{{ x }}&{{ m }}{% endset %}{{ held }} {{ held|length }} {{ held is string }}
{%- filter upper %}{{ x }}{{ m }}{% endfilter %}
{%- for v in values %}<li>{{ v }}{{ loop.index }}</li>{% endfor %}
{%- include "part.html" %}{{ (x ~ m)|length }} {{ x|e }} {{ m|safe }} {{ x|string|length }}
{%- autoescape false %}{{ x }}{% endautoescape %}{{ self.main() }}""",
    "part.html": """{% set local %}{{ m }}{% endset %}<p>{{ local }}{{ x }}</p>""",
}


@pytest.mark.parametrize("autoescape", [True, False])
def test_an_output_template_writes_what_jinja_writes(autoescape):
    def environment() -> jinja2.Environment:
        return jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=autoescape,
                                  undefined=jinja2.StrictUndefined)

    plain, faster = environment(), environment()
    faster.template_class = OutputTemplate
    context = {"x": "<Tom & \"Jerry\">", "m": Markup("<em>é</em>"), "values": VALUES}
    written = faster.get_template("page.html").render(context)
    assert written == plain.get_template("page.html").render(context)
    assert "&lt;Tom &amp; &#34;Jerry&#34;&gt;" in written or not autoescape


def test_an_output_template_writes_its_values_with_escape_output():
    # Jinja 3.1's compiled templates call the name ``escape`` for each {{ … }}; OutputTemplate
    # replaces it there. Should Jinja's generated code change, this says so (the pages would
    # still be right, only slower).
    environment = jinja2.Environment(autoescape=True)
    environment.template_class = OutputTemplate
    template = environment.from_string("{{ x }}")
    assert template.root_render_func.__globals__["escape"] is escape_output
    assert template.render(x="<&>") == "&lt;&amp;&gt;"
    # An undefined value is still an error, not written.
    strict = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    strict.template_class = OutputTemplate
    with pytest.raises(jinja2.UndefinedError):
        strict.from_string("{{ y }}").render()
