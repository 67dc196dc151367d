"""Which reviews a review's page suggests, and why: another review of the same film first, then
the director's other films, then shared cast (more names shared first), newest first within
each; never itself, never more than asked."""

from __future__ import annotations

from publisher.models import Film
from publisher.render.related import find_related
from tests.fixtures import make_review


def film(i: int, title: str, year: int | None, director: str = "", *starring: str):
    return make_review(i, title=title, film=Film(year=year, director=director,
                                                 starring=starring))


def suggested(reviews, limit: int = 4) -> list[list[tuple[str, str]]]:
    return [[(r.review.title, r.reason) for r in related]
            for related in find_related(reviews, limit)]


def test_the_same_film_then_its_director_then_its_cast_newest_first():
    reviews = [
        film(0, "Alien", 1979, "Ridley Scott", "Sigourney Weaver", "Tom Skerritt"),
        film(1, "Blade Runner", 1982, "Ridley Scott", "Harrison Ford"),
        film(2, "Aliens", 1986, "James Cameron", "Sigourney Weaver"),
        film(3, "The Right Stuff", 1983, "Philip Kaufman", "Sam Shepard"),
        film(4, "ALIEN ", 1979, "Ridley Scott", "Sigourney Weaver"),  # a second opinion
        film(5, "Gladiator", 2000, "Ridley Scott", "Russell Crowe"),
        film(6, "Ghostbusters", 1984, "Ivan Reitman", "Sigourney Weaver", "Tom Skerritt"),
    ]
    assert suggested(reviews)[0] == [
        ("ALIEN ", "Another review of this film"),
        ("Gladiator", "Also directed by Ridley Scott"),
        ("Blade Runner", "Also directed by Ridley Scott"),
        ("Ghostbusters", "Also starring Sigourney Weaver and Tom Skerritt"),  # two shared
    ]
    assert suggested(reviews, limit=2)[0] == [("ALIEN ", "Another review of this film"),
                                              ("Gladiator", "Also directed by Ridley Scott")]
    assert suggested(reviews)[2] == [("Ghostbusters", "Also starring Sigourney Weaver"),
                                     ("ALIEN ", "Also starring Sigourney Weaver"),
                                     ("Alien", "Also starring Sigourney Weaver")]
    assert suggested(reviews)[3] == []  # nothing in common with any other
    assert suggested(reviews, limit=0) == [[]] * len(reviews)


def test_a_film_without_a_year_is_nobodys_same_film_and_names_match_by_slug():
    reviews = [
        film(0, "Halloween", None, "John Carpenter"),
        film(1, "Halloween", 2018, "David Gordon Green"),
        film(2, "Halloween", None, "Rob Zombie", "Malcolm McDowell"),
        film(3, "A Clockwork Orange", 1971, "Stanley Kubrick", "malcolm mcdowell"),
    ]
    related = suggested(reviews)
    assert related[0] == [] and related[1] == []
    assert related[2] == [("A Clockwork Orange", "Also starring Malcolm McDowell")]
    assert related[3] == [("Halloween", "Also starring malcolm mcdowell")]
