"""Tables of this domain (created by its Alembic migrations 0010 and 0011).

Amounts are `numeric` Rupiah mapped to `Decimal`; the triggers that make issued invoices immutable live in the
migration, not here.
"""

from __future__ import annotations

import uuid as uuid_mod
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import DATERANGE, UUID, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.vocab import InvoiceKind, InvoiceStatus, LineKind
from ducting.db import Base
from ducting.models_base import IdMixin, enum_column
from ducting.network.vocab import SizeClass, ZoneClass


class Tariff(IdMixin, Base):
    __tablename__ = "tariff"
    __table_args__ = (
        # one price per product and zone class on any day
        ExcludeConstraint(
            ("product", "="), ("zone_class", "="), ("effective", "&&"), using="gist", name="ex_tariff_key_effective"
        ),
        CheckConstraint("NOT isempty(effective) AND NOT lower_inf(effective)", name="ck_tariff_effective"),
        CheckConstraint("price_idr_per_m_year > 0", name="ck_tariff_price"),
        CheckConstraint(
            "retribusi_idr_per_m_year >= 0 AND retribusi_idr_per_m_year <= price_idr_per_m_year",
            name="ck_tariff_retribusi",
        ),
    )

    product: Mapped[SizeClass] = mapped_column(enum_column(SizeClass, "size_class"), nullable=False)
    zone_class: Mapped[ZoneClass] = mapped_column(enum_column(ZoneClass, "zone_class"), nullable=False)
    effective: Mapped[Any] = mapped_column(DATERANGE, nullable=False)
    price_idr_per_m_year: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    retribusi_idr_per_m_year: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, server_default="0")
    legal_basis: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )


class BillingFee(IdMixin, Base):
    __tablename__ = "billing_fee"
    __table_args__ = (
        ExcludeConstraint(("kind", "="), ("effective", "&&"), using="gist", name="ex_billing_fee_kind_effective"),
        CheckConstraint(
            "kind IN ('access_per_manhole_entry', 'minimum_monthly_charge')", name="billing_fee_kind_check"
        ),
        CheckConstraint("NOT isempty(effective) AND NOT lower_inf(effective)", name="billing_fee_effective_check"),
        CheckConstraint("amount_idr >= 0", name="billing_fee_amount_idr_check"),
    )

    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    effective: Mapped[Any] = mapped_column(DATERANGE, nullable=False)
    amount_idr: Mapped[Decimal] = mapped_column(Numeric(14, 0), nullable=False)


class TermDiscount(IdMixin, Base):
    __tablename__ = "term_discount"
    __table_args__ = (
        ExcludeConstraint(
            ("min_term_years", "="), ("effective", "&&"), using="gist", name="ex_term_discount_effective"
        ),
        CheckConstraint("min_term_years > 0", name="term_discount_min_term_years_check"),
        CheckConstraint("NOT isempty(effective) AND NOT lower_inf(effective)", name="term_discount_effective_check"),
        CheckConstraint("discount_pct >= 0 AND discount_pct < 100", name="term_discount_discount_pct_check"),
    )

    min_term_years: Mapped[int] = mapped_column(Integer, nullable=False)
    effective: Mapped[Any] = mapped_column(DATERANGE, nullable=False)
    discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)


class TaxRateRow(IdMixin, Base):
    __tablename__ = "tax_rate"
    __table_args__ = (
        ExcludeConstraint(("tax", "="), ("effective", "&&"), using="gist", name="ex_tax_rate_effective"),
        CheckConstraint("tax = 'PPN'", name="tax_rate_tax_check"),
        CheckConstraint("NOT isempty(effective) AND NOT lower_inf(effective)", name="tax_rate_effective_check"),
        CheckConstraint("rate_pct >= 0", name="tax_rate_rate_pct_check"),
        CheckConstraint("dpp_numerator > 0", name="tax_rate_dpp_numerator_check"),
        CheckConstraint("dpp_denominator >= dpp_numerator", name="tax_rate_check"),
    )

    tax: Mapped[str] = mapped_column(String(8), nullable=False)
    effective: Mapped[Any] = mapped_column(DATERANGE, nullable=False)
    rate_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    dpp_numerator: Mapped[int] = mapped_column(Integer, nullable=False)
    dpp_denominator: Mapped[int] = mapped_column(Integer, nullable=False)
    efaktur_trx_code: Mapped[str] = mapped_column(String(2), nullable=False)
    legal_basis: Mapped[str] = mapped_column(Text, nullable=False)


class InvoiceRun(Base):
    __tablename__ = "invoice_run"
    __table_args__ = (CheckConstraint("extract(day FROM month) = 1", name="invoice_run_month_check"),)

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    previewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    previewed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))


class Invoice(IdMixin, Base):
    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint("(kind = 'credit_note') = (credited_invoice_id IS NOT NULL)", name="ck_invoice_credit_note"),
        CheckConstraint("(status = 'draft') = (number IS NULL)", name="ck_invoice_numbered"),
        CheckConstraint(
            "status = 'draft' OR (issued_on IS NOT NULL AND due_on IS NOT NULL)", name="ck_invoice_issued_on"
        ),
        CheckConstraint("total_idr = subtotal_idr + ppn_idr", name="ck_invoice_total"),
        CheckConstraint(
            "paid_idr >= 0 AND (kind = 'credit_note' OR paid_idr <= greatest(total_idr, 0))", name="ck_invoice_paid"
        ),
        # one invoice per operator and month (credit notes aside)
        Index(
            "uq_invoice_operator_month",
            "operator_id",
            "month",
            unique=True,
            postgresql_where=text("kind = 'invoice'"),
        ),
        Index("ix_invoice_month_status", "month", "status"),
        Index("ix_invoice_credited", "credited_invoice_id"),
    )

    uuid: Mapped[uuid_mod.UUID] = mapped_column(
        UUID(as_uuid=True), unique=True, nullable=False, server_default=text("gen_random_uuid()")
    )
    kind: Mapped[InvoiceKind] = mapped_column(
        enum_column(InvoiceKind, "invoice_kind"), nullable=False, server_default="invoice"
    )
    month: Mapped[date] = mapped_column(Date, ForeignKey("invoice_run.month"), nullable=False)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisation.id"), nullable=False)
    status: Mapped[InvoiceStatus] = mapped_column(
        enum_column(InvoiceStatus, "invoice_status"), nullable=False, server_default="draft"
    )
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    credited_invoice_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("invoice.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(CHAR(3), nullable=False, server_default="IDR")
    subtotal_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False, server_default="0")
    retribusi_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False, server_default="0")
    ppn_rate_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, server_default="0")
    dpp_numerator: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    dpp_denominator: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    dpp_nilai_lain_idr: Mapped[Decimal] = mapped_column(Numeric(20, 2), nullable=False, server_default="0")
    ppn_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False, server_default="0")
    total_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False, server_default="0")
    paid_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False, server_default="0")
    paid_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )

    lines: Mapped[list[InvoiceLine]] = relationship(order_by="InvoiceLine.line_no", viewonly=True)


class InvoiceLine(IdMixin, Base):
    __tablename__ = "invoice_line"
    __table_args__ = (
        UniqueConstraint("invoice_id", "line_no", name="uq_invoice_line_no"),
        CheckConstraint("days_in_year IN (365, 366)", name="invoice_line_days_in_year_check"),
        CheckConstraint(
            "kind NOT IN ('rent', 'adjustment')"
            " OR (allocation_id IS NOT NULL AND period_from IS NOT NULL AND days_in_year IS NOT NULL)",
            name="ck_invoice_line_rent",
        ),
        # an allocation's rent for a month is billed once, and its one-time fee once, unless credited
        Index(
            "uq_invoice_line_rent",
            "allocation_id",
            "service_month",
            "period_from",
            unique=True,
            postgresql_where=text("kind = 'rent' AND credited_line_id IS NULL"),
        ),
        Index(
            "uq_invoice_line_fee",
            "allocation_id",
            unique=True,
            postgresql_where=text("kind = 'one_time_fee' AND credited_line_id IS NULL"),
        ),
        Index(
            "uq_invoice_line_credited",
            "credited_line_id",
            unique=True,
            postgresql_where=text("credited_line_id IS NOT NULL"),
        ),
        Index("ix_invoice_line_invoice", "invoice_id"),
        Index("ix_invoice_line_allocation", "allocation_id", "service_month"),
    )

    invoice_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[LineKind] = mapped_column(enum_column(LineKind, "invoice_line_kind"), nullable=False)
    allocation_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("allocation.id"))
    segment_id: Mapped[int | None] = mapped_column(BigInteger)
    segment_code: Mapped[str | None] = mapped_column(String(32))
    subduct_label: Mapped[str | None] = mapped_column(String(16))
    product: Mapped[SizeClass | None] = mapped_column(enum_column(SizeClass, "size_class"))
    zone_class: Mapped[ZoneClass | None] = mapped_column(enum_column(ZoneClass, "zone_class"))
    kecamatan_kode: Mapped[str | None] = mapped_column(String(16))
    service_month: Mapped[date] = mapped_column(Date, nullable=False)
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    days: Mapped[int | None] = mapped_column(Integer)
    days_in_year: Mapped[int | None] = mapped_column(Integer)
    length_m: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    rate_idr_per_m_year: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False, server_default="0")
    retribusi_idr_per_m_year: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, server_default="0")
    quantity: Mapped[int | None] = mapped_column(Integer)
    unit_price_idr: Mapped[Decimal | None] = mapped_column(Numeric(14, 0))
    amount_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False)
    retribusi_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False, server_default="0")
    credited_line_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("invoice_line.id"))
    waived: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    description: Mapped[str] = mapped_column(Text, nullable=False)


class Payment(IdMixin, Base):
    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("invoice_id", "reference", name="uq_payment_reference"),
        CheckConstraint("amount_idr > 0", name="payment_amount_idr_check"),
        CheckConstraint("length(reference) BETWEEN 1 AND 120", name="payment_reference_check"),
    )

    invoice_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("invoice.id"), nullable=False)
    amount_idr: Mapped[Decimal] = mapped_column(Numeric(18, 0), nullable=False)
    paid_on: Mapped[date] = mapped_column(Date, nullable=False)
    reference: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
