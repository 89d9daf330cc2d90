"""Export-control rule predicates on the catalog (DOMAIN §3), baseline scenario rules."""

import datetime as dt

import pytest

from model.config import load_scenario
from model.mechanisms.products import catalog, product
from model.mechanisms.rules import ExportRule, RuleBook

D = dt.date
OCT23 = D(2023, 10, 23)


@pytest.fixture(scope="module")
def rules():
    return RuleBook.from_config(load_scenario("baseline"))


@pytest.fixture(scope="module")
def open_rules():
    return RuleBook.from_config(load_scenario("baseline", export_controls=False))


def test_catalog_specs_used_by_the_rules():
    # DOMAIN §2: TPP and I/O that decide the Oct 2022 and Oct 2023 tests.
    assert product("H100 SXM5").tpp == 15800 and product("H100 SXM5").io_gbps == 900
    assert product("A800").tpp == 4990 and product("A800").io_gbps == 400
    assert product("H800").io_gbps == 400
    assert product("H20").density < 5.92        # 2368 / 814 = 2.91: not caught by the density test


@pytest.mark.parametrize("name", ["A800", "H800"])
def test_china_variants_legal_before_23_oct_2023(rules, name):
    # Oct 2022 rule: TPP >= 4800 AND I/O >= 600; I/O 400 < 600 -> not caught.
    for when in (D(2022, 10, 7), D(2023, 3, 21), D(2023, 10, 22)):
        assert rules.allowed(product(name), "CN", when), when


@pytest.mark.parametrize("name", ["A800", "H800"])
def test_china_variants_illegal_from_23_oct_2023(rules, name):
    # Oct 2023 rule: TPP >= 4800 alone suffices.
    for when in (OCT23, D(2024, 6, 1), D(2026, 12, 1)):
        v = rules.verdict(product(name), "CN", when)
        assert not v.allowed and v.rule == "Oct 2023 update", when


@pytest.mark.parametrize("name", ["L40S", "RTX 4090"])
def test_pcie_cards_caught_from_oct_2023(rules, name):
    assert rules.allowed(product(name), "CN", D(2023, 10, 22))
    assert not rules.allowed(product(name), "CN", OCT23)


def test_h100_never_legal_to_china_in_baseline(rules):
    h100 = product("H100 SXM5")
    when = D(2022, 10, 3)
    while when <= D(2026, 12, 28):
        assert not rules.allowed(h100, "CN", when), when
        when += dt.timedelta(days=7)


def test_h100_legal_to_us_always(rules):
    for when in (D(2022, 10, 3), OCT23, D(2025, 3, 1)):
        assert rules.allowed(product("H100 SXM5"), "US", when)


def test_everything_legal_without_export_controls(open_rules):
    for p in catalog().values():
        for region in ("US", "CN", "ROW"):
            for when in (D(2022, 10, 3), OCT23, D(2025, 2, 1), D(2025, 6, 1)):
                v = open_rules.verdict(p, region, when)
                assert v.allowed and v.fee_share == 0.0, (p.name, region, when)
            assert open_rules.pending_ban(p, region, D(2023, 9, 1)) is None


def test_no_export_controls_scenario_file(open_rules):
    rb = RuleBook.from_config(load_scenario("no_export_controls"))
    assert rb.allowed(product("H100 SXM5"), "CN", D(2024, 1, 1))


def test_h20_timeline(rules):
    h20 = product("H20")
    # legal (H20 passes the density test) until the Apr 2025 licence requirement
    assert rules.verdict(h20, "CN", D(2025, 4, 14)).allowed
    assert rules.verdict(h20, "CN", D(2025, 4, 14)).fee_share == 0.0
    v = rules.verdict(h20, "CN", D(2025, 4, 15))
    assert not v.allowed and v.rule == "H20 licence"
    assert not rules.allowed(h20, "CN", D(2025, 8, 10))
    # from 11 Aug 2025: allowed with 15% of revenue
    v = rules.verdict(h20, "CN", D(2025, 8, 11))
    assert v.allowed and v.fee_share == pytest.approx(0.15)
    assert v.rule == "H20 licence for 15% of revenue"
    assert rules.verdict(h20, "CN", D(2026, 6, 1)).fee_share == pytest.approx(0.15)
    # no fee outside China
    assert rules.verdict(h20, "US", D(2025, 9, 1)) .fee_share == 0.0


def test_diffusion_rule_for_row_in_force_then_rescinded(rules):
    h100 = product("H100 SXM5")
    assert rules.allowed(h100, "ROW", D(2025, 1, 12))
    v = rules.verdict(h100, "ROW", D(2025, 1, 13))
    assert not v.allowed and v.rule == "AI diffusion rule"
    assert not rules.allowed(h100, "ROW", D(2025, 5, 12))
    assert rules.allowed(h100, "ROW", D(2025, 5, 13))           # rescinded
    # a card under the TPP line is never caught
    assert rules.allowed(product("H20"), "ROW", D(2025, 3, 1))


def test_pending_ban_during_heard_window(rules):
    a800 = product("A800")
    assert rules.pending_ban(a800, "CN", D(2023, 8, 14)) is None     # not heard yet
    for when in (D(2023, 8, 15), D(2023, 10, 17), D(2023, 10, 22)):
        r = rules.pending_ban(a800, "CN", when)
        assert r is not None and r.name == "Oct 2023 update", when
    assert rules.pending_ban(a800, "CN", OCT23) is None              # already banned
    assert rules.pending_ban(a800, "US", D(2023, 9, 1)) is None      # not a US rule
    assert rules.pending_ban(product("H100 SXM5"), "CN", D(2023, 9, 1)) is None  # banned already
    # the H20 rules are announced the day they take effect: no warning
    assert rules.pending_ban(product("H20"), "CN", D(2025, 4, 14)) is None


def test_pending_ban_ignores_licence_for_a_fee():
    p = product("H20")
    fee = ExportRule("fee", announce=D(2024, 1, 1), effective=D(2024, 3, 1), regions=("CN",),
                     products=("H20",), licence_fee_share=0.1)
    assert RuleBook([fee]).pending_ban(p, "CN", D(2024, 2, 1)) is None
    ban = ExportRule("ban", announce=D(2024, 1, 1), effective=D(2024, 3, 1), regions=("CN",),
                     products=("H20",))
    assert RuleBook([ban]).pending_ban(p, "CN", D(2024, 2, 1)) is ban
    assert RuleBook([ban]).pending_ban(p, "CN", D(2023, 12, 31)) is None


def test_moved_rule_moves_the_ban():
    # a scenario moving the Oct 2023 rule a year later keeps A800 legal in 2024
    late = ExportRule("late", announce=D(2024, 10, 1), effective=D(2024, 10, 23), regions=("CN",),
                      tpp_min=4800.0)
    rb = RuleBook([late])
    assert rb.allowed(product("A800"), "CN", D(2024, 1, 1))
    assert not rb.allowed(product("A800"), "CN", D(2024, 10, 23))


def test_catches_predicates():
    r = ExportRule("t", announce=D(2022, 1, 1), effective=D(2022, 1, 1), regions=("CN",),
                   tpp_min=4800.0, io_min_gbps=600.0)
    assert r.catches(product("A100 80GB"), "CN")        # 4990 >= 4800 and 600 >= 600
    assert not r.catches(product("A800"), "CN")         # I/O 400
    assert not r.catches(product("A100 80GB"), "US")    # region
    alt = ExportRule("a", announce=D(2022, 1, 1), effective=D(2022, 1, 1), regions=("CN",),
                     alt_tpp_min=1600.0, alt_density_min=5.92)
    # RTX 4090: 5290 / 609 = 8.69 >= 5.92 -> caught; H20: 2.91 -> not
    assert alt.catches(product("RTX 4090"), "CN")
    assert not alt.catches(product("H20"), "CN")
