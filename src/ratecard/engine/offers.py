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

#: The route (`PriceBook.routes`) of an action that is free: no meter counts it.
FREE = "free"


@attrs.frozen
class PackOffer:
    """A pack size on sale for a meter, and its price (None: `contact sales`, sold only by
    negotiation, so that a purchase must give the price it was sold at)."""

    size: Decimal
    price: Decimal | None
