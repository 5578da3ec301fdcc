"""Money: currency exponents, exact amounts, rounding, FX and display (pure core).

Amounts are integers in the currency's minor unit (cents; for zero-decimal currencies such as
JPY the unit itself). Intermediate MRR arithmetic is exact: `Fraction` values built from
Stripe's decimal strings, so a ÷3 (quarterly) or ×52/12 (weekly) never rounds early. The one
rounding per subscription (and per contact conversion) is half-even, by `round_minor`. No
float ever takes part: JSON numbers that arrive as floats (a coupon's `percent_off: 25.5`) are
read through their shortest decimal text by `to_exact`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from worker.errors import ConfigError

#: Stripe's zero-decimal currencies: amounts are in the unit itself.
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
#: Stripe's three-decimal currencies (amounts in thousandths).
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "krw": "₩", "inr": "₹", "cny": "¥"}


def exponent(currency: str) -> int:
    """Digits after the decimal point in the currency's major unit (0, 2 or 3)."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


#: An exact amount: a plain int when whole (fast), else a Fraction. Both mix exactly.
Exact = int | Fraction


def to_exact(value: object) -> Exact:
    """A JSON number or decimal string as an exact value (floats read as their shortest text)."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is str:
        if value.isdigit():  # type: ignore[union-attr]
            return int(value)  # type: ignore[arg-type]
        return Fraction(Decimal(value))  # type: ignore[arg-type]
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, (int, Fraction)):
        return value
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return Fraction(value)
    raise TypeError(f"not an amount: {value!r}")


def round_minor(value: Exact) -> int:
    """Round an exact minor-unit amount to an integer, half to even (the one rounding)."""
    return value if type(value) is int else round(value)  # Fraction rounds half to even


def round_ratio(numerator: int, denominator: int) -> int:
    """`numerator / denominator` (denominator > 0) rounded half to even, in integers only."""
    quotient, rest = divmod(numerator, denominator)
    twice = 2 * rest
    if twice > denominator or (twice == denominator and quotient % 2):
        return quotient + 1
    return quotient


def minor_to_major(minor: int | Fraction, currency: str) -> Fraction:
    return Fraction(minor) / 10 ** exponent(currency)


def major_to_minor(major: Fraction | Decimal | int, currency: str) -> Fraction:
    return to_exact(major) * 10 ** exponent(currency)


def format_decimal(value: Fraction, places: int) -> str:
    """`value` with `places` decimals; a value that needs more shows up to 4 more, then `…`."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for extra in range(5):
        scaled = value * 10 ** (places + extra)
        if scaled.denominator == 1:
            return sign + _digits(int(scaled), places + extra)
    scaled = value * 10 ** (places + 4)
    return sign + _digits(scaled.numerator // scaled.denominator, places + 4) + "…"


def _digits(units: int, places: int) -> str:
    text = f"{units:0{places + 1}d}"
    if places == 0:
        return f"{int(text):,}"
    whole, frac = text[:-places], text[-places:]
    return f"{int(whole):,}.{frac}"


def exact_text(value: Fraction) -> str:
    """A rate or percentage as plain decimal text when it terminates (`1.08`), else `n/d`."""
    if value.denominator == 1:
        return str(value.numerator)
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = value * 10**places
    return format_decimal(value, places).replace(",", "") if scaled.denominator == 1 else str(value)


def format_minor(minor: int | Fraction, currency: str) -> str:
    """Human display of a minor-unit amount: `150.00 USD`, `1,500 JPY`, `12.3456… EUR`."""
    major = minor_to_major(minor, currency)
    return f"{format_decimal(major, exponent(currency))} {currency.upper()}"


class MissingFxRate(ConfigError):
    """A contact's MRR must be converted from a currency that has no rate in stripe.yaml."""


@dataclass(frozen=True)
class FxTable:
    """The reporting currency and `1 unit of X = rate units of the reporting currency`."""

    currency: str
    rates: Mapping[str, Decimal] = field(default_factory=dict)
    _exact: dict[str, Exact] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._exact.update({k.lower(): to_exact(v) for k, v in self.rates.items()})
        self._exact[self.currency] = 1

    @classmethod
    def from_config(cls, mrr_config) -> FxTable:
        return cls(mrr_config.currency.lower(),
                   {k.lower(): Decimal(str(v)) for k, v in mrr_config.fx_rates.items()})

    def has_rate(self, currency: str) -> bool:
        return currency.lower() in self._exact

    def rate(self, currency: str, *, subject: str = "an amount") -> Exact:
        found = self._exact.get(currency)
        if found is not None:
            return found
        code = currency.lower()
        if code in self._exact:
            return self._exact[code]
        raise MissingFxRate(
            f"No exchange rate from {code.upper()} to {self.currency.upper()} for {subject}.",
            fix=f"Add `{code}: <rate>` under mrr.fx_rates in stripe.yaml "
            f"(1 {code.upper()} in {self.currency.upper()}).",
        )

    def convert_minor(self, minor: Exact, currency: str, *, subject: str = "an amount") -> Exact:
        """Exact value in the reporting currency's minor unit (not rounded)."""
        shift = exponent(self.currency) - exponent(currency)
        value = minor * self.rate(currency, subject=subject)
        return value * 10**shift if shift >= 0 else Fraction(value) / 10**-shift

    def value(self, native: Mapping[str, int], *, subject: str = "an amount") -> Exact:
        """Exact sum of per-currency minor amounts in the reporting currency's minor unit."""
        return sum((self.convert_minor(v, c, subject=subject) for c, v in native.items()), 0)

    def rounded_total(self, native: Mapping[str, int], *, subject: str = "an amount") -> int:
        """`round_minor(self.value(native))` in integers only: the exact sum is carried as one
        numerator/denominator pair, so converting a contact allocates no Fraction."""
        num, den, target = 0, 1, exponent(self.currency)
        for currency, minor in native.items():
            rate = self.rate(currency, subject=subject)
            shift = target - exponent(currency)
            n, d = minor * rate.numerator, rate.denominator
            if shift >= 0:
                n *= 10**shift
            else:
                d *= 10**-shift
            num, den = (num + n, den) if d == den else (num * d + n * den, den * d)
        return round_ratio(num, den)


def missing_rates(currencies: Iterable[str], fx: FxTable) -> list[str]:
    """The currencies (upper case, sorted) that `fx` cannot convert into the reporting currency."""
    return sorted({c.upper() for c in currencies if c and not fx.has_rate(c)})


def missing_rates_text(missing: list[str], fx: FxTable) -> str:
    """One sentence naming the currencies without a rate, and the fix."""
    lines = ", ".join(f"{c.lower()}: <rate>" for c in missing)
    return (f"No FX rate in stripe.yaml for {', '.join(missing)}: contacts with subscriptions in several "
            f"currencies cannot be converted to {fx.currency.upper()}. Add them under mrr.fx_rates "
            f"({lines}; 1 unit in {fx.currency.upper()}).")


def major_units(minor: int, currency: str) -> Decimal:
    """`1234, "usd"` → `Decimal("12.34")`, `"jpy"` → `1234`, `"bhd"` → `1.234`: exact, with the
    currency's own number of decimals (the one table above)."""
    return Decimal(int(minor)).scaleb(-exponent(currency))
