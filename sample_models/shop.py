"""A small shop: customers, products (natural key: the SKU), orders and order items
(composite key: order + line number).

Load it with ``ormcli --models sample_models/shop.py``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

from core import AutoIncrement, MaxLength, PrimaryKey, Reference, Unique, entity, field


class OrderStatus(Enum):
    open = "open"
    paid = "paid"
    shipped = "shipped"


@entity
class Customer:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    email: Annotated[str, Unique, MaxLength(200)]
    name: str


@entity
class Product:
    sku: Annotated[str, PrimaryKey, MaxLength(32)]  # natural key
    name: str
    price: Decimal
    stock: int = 0


@entity.name("orders")  # "order" is an SQL keyword; a plain table name reads better
class Order:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    customer: Annotated[Customer, Reference]
    placed: datetime = field(default_factory=datetime.now)
    status: OrderStatus = OrderStatus.open


@entity
class OrderItem:
    order: Annotated[Order, PrimaryKey, Reference]  # composite key: (order, line)
    line: Annotated[int, PrimaryKey]
    product: Annotated[Product, Reference]
    quantity: int = 1
