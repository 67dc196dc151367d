"""quick_init makes what a frozen dataclass's own __init__ makes, for every class given one."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.models import Film, Poster, Review, quick_init
from publisher.render.card import Card
from publisher.sources.body import Excerpt, FileBody, MarkdownBody

QUICK = [Film, Poster, Review, FileBody, MarkdownBody, Excerpt, Card]


def as_dataclass_makes_it(cls: type) -> type:
    """``cls`` as @dataclass(frozen=True) alone makes it: its own __init__, not quick_init's."""
    made = {"__init__", "__setattr__", "__delattr__", "__dict__", "__weakref__",
            "__dataclass_fields__", "__dataclass_params__"}
    namespace = {k: v for k, v in cls.__dict__.items() if k not in made}
    for item in dataclasses.fields(cls):  # a factory is kept by the field only
        if item.default_factory is not dataclasses.MISSING:
            namespace[item.name] = dataclasses.field(default_factory=item.default_factory)
    return dataclasses.dataclass(frozen=True)(type(cls.__name__, cls.__bases__, namespace))


REFERENCE = {cls: as_dataclass_makes_it(cls) for cls in QUICK}
VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=5),
                   st.tuples(st.text(max_size=3)))


def arguments(cls: type) -> st.SearchStrategy[dict[str, object]]:
    """Keyword arguments for ``cls``: every required field, and some of the others."""
    fields = dataclasses.fields(cls)
    required = {f.name for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    return st.fixed_dictionaries({name: VALUES for name in required},
                                 optional={f.name: VALUES for f in fields
                                           if f.name not in required})


@pytest.mark.parametrize("cls", QUICK)
@given(data=st.data())
def test_an_instance_holds_what_the_dataclass_init_gives_it(cls, data):
    values = data.draw(arguments(cls))
    quick, reference = cls(**values), REFERENCE[cls](**values)
    # The same keys in the same order (pickles and reprs follow it), with the same values.
    assert list(vars(quick).items()) == list(vars(reference).items())
    assert repr(quick) == repr(reference).replace(REFERENCE[cls].__qualname__, cls.__qualname__)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.title = "changed"  # type: ignore[attr-defined]
    assert dataclasses.replace(quick) == quick
    assert pickle.loads(pickle.dumps(quick)) == quick


def test_positional_arguments_and_defaults_are_the_dataclass_ones():
    assert Film(1979, "Ridley Scott") == Film(year=1979, director="Ridley Scott")
    assert Film().starring == () and Film().year is None
    with pytest.raises(TypeError):
        Poster("a.png")  # type: ignore[call-arg]  # alt is required


def test_a_class_whose_init_does_more_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            assert self.value

    with pytest.raises(TypeError, match="__post_init__"):
        quick_init(Checked)
    with pytest.raises(TypeError, match="not set by __init__"):
        quick_init(dataclasses.dataclass(frozen=True)(type("Part", (), {
            "__annotations__": {"value": "int"},
            "value": dataclasses.field(default=0, init=False)})))


@pytest.mark.parametrize("computed", [(), ("body_html",), ("summary",), ("body_html", "summary")])
def test_a_review_pickles_its_fields_without_the_texts_it_computed(computed):
    review = Review(slug="s", title="T", date=None, updated=None, reviewer="R", id="i",  # type: ignore[arg-type]
                    url="u", body_html=Excerpt(3, "lead words here", "b/"),
                    summary=Excerpt(2, "lead words", "b/"))
    before = dict(vars(review))
    for name in computed:
        getattr(review, name)
    state = review.__getstate__()
    assert list(state.items()) == list(before.items())
    assert pickle.loads(pickle.dumps(review)).__dict__ == before
