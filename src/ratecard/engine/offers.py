"""What a sheet's routes and packs are made of, below the price book that holds them.

`FREE`, the route of an action that no meter counts, and `PackOffer`, a pack on sale, are read
by the journal (checking entries) and the replay (billing them) as well as by the price book;
they live here so that neither has to import `engine.pricebook`, which calls the replay.
`engine.pricebook` imports both, so `from ratecard.engine.pricebook import FREE, PackOffer`
keeps working.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ratecard.engine.money import CONTEXT

#: The route (`PriceBook.routes`) of an action that is free: no meter counts it.
FREE = "free"


@attrs.frozen
class PackOffer:
    """A pack size on sale for a meter, and its price."""

    size: Decimal
    price: Decimal

    @property
    def unit_price(self) -> Decimal:
        return CONTEXT.divide(self.price, self.size)
