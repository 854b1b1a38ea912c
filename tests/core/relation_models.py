"""Entities for the relation tests: a blog with collections both ways, and small graphs for
the rules (cascade, set null, orphans, natural keys, cycles)."""

from __future__ import annotations

import uuid
from typing import Annotated

from core import AutoIncrement, BackReference, MaxLength, PrimaryKey, Reference, entity


@entity.name("r_author")
class Author:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference]


@entity.name("r_post")
class Post:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    title: str = ""
    author: Annotated[Author, Reference(on_delete="cascade")] | None = None
    tags: Annotated[list[Tag], BackReference(via="PostTag")]
    notes: Annotated[list[Note], BackReference]


@entity.name("r_tag")
class Tag:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    posts: Annotated[list[Post], BackReference(via="PostTag")]


@entity.name("r_post_tag")
class PostTag:
    post: Annotated[Post, PrimaryKey, Reference(on_delete="cascade")]
    tag: Annotated[Tag, PrimaryKey, Reference(on_delete="cascade")]


@entity.name("r_note")
class Note:
    """A note outlives its post: the reference is cleared (``set null``)."""

    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    text: str = ""
    post: Annotated[Post, Reference(on_delete="set null")] | None = None


@entity.name("r_owner")
class Owner:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    pets: Annotated[list[Pet], BackReference]
    chores: Annotated[list[Chore], BackReference]


@entity.name("r_pet")
class Pet:
    """A pet must have an owner (a non-nullable reference, restrict)."""

    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    owner: Annotated[Owner, Reference]


@entity.name("r_chore")
class Chore:
    """A chore taken out of its owner's list is deleted (``orphans="delete"``)."""

    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    what: str = ""
    owner: Annotated[Owner, Reference(orphans="delete")]


@entity.name("r_country")
class Country:
    """A natural key."""

    code: Annotated[str, PrimaryKey, MaxLength(2)]
    name: str = ""


@entity.name("r_city")
class City:
    id: Annotated[uuid.UUID, PrimaryKey]
    name: str = ""
    country: Annotated[Country, Reference]
    twin: Annotated[City, Reference] | None = None


@entity.name("r_team")
class Team:
    """Two new teams and their captains reference each other: a cycle across two entities."""

    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    captain: Annotated[Player, Reference] | None = None
    players: Annotated[list[Player], BackReference(mapped_by="team")]


@entity.name("r_player")
class Player:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    name: str = ""
    team: Annotated[Team, Reference]


#: (Team and Player reference each other: their tables are not in ALL, whose migrate creates
#: tables with their foreign keys in one statement each.)
ALL = [Author, Post, Tag, PostTag, Note, Owner, Pet, Chore, Country, City]
