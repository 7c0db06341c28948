"""Page numbers of a list, as templates/_forms.html's ``pager`` macro reads them.

The same attributes as Flask-SQLAlchemy's ``Pagination``, for lists that are not
one query (the channel's project cards, the files tab).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Pager:
    """Page ``page`` of ``total`` items, ``per_page`` a page."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1

    def iter_pages(self) -> Iterator[int | None]:
        """Every page near the current one and at both ends; None marks a gap."""
        last = 0
        for number in range(1, self.pages + 1):
            if number <= 2 or number > self.pages - 2 or abs(number - self.page) <= 2:
                if last and number > last + 1:
                    yield None
                yield number
                last = number


def clamp(page: int, per_page: int, total: int) -> int:
    """``page`` within 1 … the last page of ``total`` items."""
    return min(max(1, page), max(1, -(-total // per_page)))
