/* ratecard's cost calculator: a month's quote from the price book compiled into DATA, as
   `ratecard quote` prints it. Exact arithmetic only: every quantity, price and amount is a
   fraction of two BigInts, and an amount is rounded once, as the rules say. */
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("calculator-data").textContent);

  /* --- exact fractions {n, d}: d > 0, in lowest terms -----------------------------------------
     A quantity also carries `e`, the exponent Python's Decimal would give it (a sum or
     difference takes the smaller one; a rounded count, its increment's): `ratecard quote`
     prints a quantity that is not whole with exactly that many decimal places. */
  const Z = 0n, ONE = 1n, TEN = 10n;
  function gcd(a, b) {
    if (a < Z) a = -a;
    while (b !== Z) { const t = a % b; a = b; b = t < Z ? -t : t; }
    return a;
  }
  function frac(n, d) {
    if (d < Z) { n = -n; d = -d; }
    const g = gcd(n, d);
    return g > ONE ? {n: n / g, d: d / g} : {n, d};
  }
  const ZERO = {n: Z, d: ONE, e: 0};
  function dec(text) {  // a plain decimal as the generator writes it: "-0.0018", "6000000000"
    if (text === null) return null;
    const negative = text.startsWith("-");
    const [whole, part = ""] = (negative ? text.slice(1) : text).split(".");
    const n = BigInt(whole + part);
    return exponent(frac(negative ? -n : n, TEN ** BigInt(part.length)), -part.length);
  }
  function exponent(a, e) { a.e = e; return a; }
  const smaller = (a, b) => (a.e === undefined || b.e === undefined ? undefined : a.e < b.e ? a.e : b.e);
  const add = (a, b) => exponent(frac(a.n * b.d + b.n * a.d, a.d * b.d), smaller(a, b));
  const sub = (a, b) => exponent(frac(a.n * b.d - b.n * a.d, a.d * b.d), smaller(a, b));
  const mul = (a, b) => frac(a.n * b.n, a.d * b.d);
  const div = (a, b) => frac(a.n * b.d, a.d * b.n);
  const cmp = (a, b) => { const x = a.n * b.d, y = b.n * a.d; return x < y ? -1 : x > y ? 1 : 0; };
  const min = (a, b) => (cmp(a, b) <= 0 ? a : b);
  const max = (a, b) => (cmp(a, b) >= 0 ? a : b);
  const positive = a => a.n > Z;
  const whole = a => a.d === ONE;

  // The integer k nearest `a` by `mode` (a rounding mode of the rules).
  function integral(a, mode) {
    let q = a.n / a.d;
    let r = a.n % a.d;
    if (r < Z) { q -= ONE; r += a.d; }  // floor division
    if (r === Z) return q;
    const away = a.n >= Z ? q + ONE : q, toward = a.n >= Z ? q : q + ONE;
    const half = 2n * r === a.d ? 0 : 2n * r < a.d ? -1 : 1;
    switch (mode) {
      case "floor": return q;
      case "ceiling": return q + ONE;
      case "down": return toward;
      case "up": return away;
      case "half_up": return half < 0 ? q : half > 0 ? q + ONE : away;
      case "half_down": return half < 0 ? q : half > 0 ? q + ONE : toward;
      case "half_even": return half < 0 ? q : half > 0 ? q + ONE : (q % 2n === Z ? q : q + ONE);
    }
    throw new Error("rounding mode " + mode);
  }
  function power(exponent) { return TEN ** BigInt(exponent < 0 ? -exponent : exponent); }
  // `a` on the increment 10^e, rounded by `mode` (as Decimal.quantize: its exponent is e).
  function onIncrement(a, e, mode) {
    const scale = power(e);
    if (e < 0) return exponent(frac(integral(frac(a.n * scale, a.d), mode), scale), e);
    return exponent(frac(integral(frac(a.n, a.d * scale), mode) * scale, ONE), e);
  }

  // --- text as `ratecard quote` prints it ------------------------------------------------------
  function grouped(digits) { return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function fixed(a, places) {  // exact: `a` is on 10^-places
    const scaled = a.n * power(places) / a.d;
    const negative = scaled < Z;
    let digits = (negative ? -scaled : scaled).toString();
    if (places > 0) {
      digits = digits.padStart(places + 1, "0");
      digits = digits.slice(0, -places) + "." + digits.slice(-places);
    }
    return (negative ? "-" : "") + digits;
  }
  const money = a => fixed(a, DATA.places);
  function quantity(a) {
    if (whole(a)) return grouped(a.n.toString());
    return fixed(a, -a.e);
  }

  // --- the compiled book ---------------------------------------------------------------------
  const ROUND = {exponent: DATA.increment, mode: DATA.mode};
  const round = a => onIncrement(a, ROUND.exponent, ROUND.mode);
  const NOTHING = ZERO;
  const meters = DATA.meters.map((m, index) => ({
    name: m.name, index, pool: m.pool, priced: m.priced,
    quantityRounding: m.rounding,
    packs: m.packs.map(p => ({size: dec(p.size), shown: p.size})),
  }));
  const byName = new Map(meters.map(m => [m.name, m]));
  const groups = DATA.groups.map(g => ({
    mode: g.mode, basis: g.basis, combined: g.combined, flatAtZero: g.flat_at_zero,
    minimum: dec(g.minimum), maximum: dec(g.maximum), meters: g.meters,
    brackets: g.brackets.map(b => ({
      lo: dec(b.lo), hi: dec(b.hi), price: dec(b.price), per: dec(b.per), flat: dec(b.flat),
      block: dec(b.block), blockRounding: b.block_rounding, label: b.label, unit: b.unit,
    })),
  }));
  const threshold = dec(DATA.alerts.low);

  class ContactSales {
    constructor(meter, units, bracket) { this.meter = meter; this.units = units; this.bracket = bracket; }
  }
  class Refused {
    constructor(message) { this.message = message; }
  }

  function line(meter, source, units, bracket, unit, amount, pack) {
    return {meter, source, units, bracket, unit, amount, pack};
  }

  // One bracket's charge: units × price / per (or per block), plus its flat fee.
  function charge(bracket, units, meter, withFlat) {
    if (bracket.price === null) throw new ContactSales(meter, units, bracket.label);
    let amount;
    if (bracket.block !== null) {
      let share = div(units, bracket.block);
      if (bracket.blockRounding === "up") share = frac(integral(share, "ceiling"), ONE);
      else if (bracket.blockRounding === "down") share = frac(integral(share, "floor"), ONE);
      amount = mul(share, bracket.price);
    } else {
      amount = div(mul(units, bracket.price), bracket.per);
    }
    if (withFlat && positive(bracket.flat)) amount = add(amount, bracket.flat);
    return {bracket, units, precise: amount};
  }
  function bracketFor(group, basis) {
    for (const bracket of group.brackets) {
      if (bracket.hi === null || cmp(basis, bracket.hi) <= 0) return bracket;
    }
    throw new Refused("past the last bracket");
  }
  function graduated(group, start, end, flatCharged, meter) {
    const charges = [];
    for (let index = 0; index < group.brackets.length; index++) {
      const bracket = group.brackets[index];
      const lo = max(bracket.lo, start);
      const hi = bracket.hi === null ? end : min(bracket.hi, end);
      if (cmp(hi, lo) > 0) {
        charges.push(charge(bracket, sub(hi, lo), meter, !flatCharged.has(index)));
        flatCharged.add(index);
      }
      if (bracket.hi === null || cmp(bracket.hi, end) >= 0) break;
    }
    return charges;
  }
  function charges(group, postpaid, basis, meter) {
    if (!positive(postpaid)) {
      const first = group.brackets[0];
      if (group.flatAtZero && positive(first.flat)) return [{bracket: first, units: ZERO, precise: first.flat}];
      return [];
    }
    if (group.mode === "volume") return [charge(bracketFor(group, basis), postpaid, meter, true)];
    return graduated(group, sub(basis, postpaid), basis, new Set(), meter);
  }
  function basisOf(group, use) {
    if (group.basis === "total") return use.total;
    if (group.basis === "after_allowance") return sub(use.total, use.allowance);
    return use.postpaid;
  }
  const NO_USAGE = {total: ZERO, allowance: ZERO, postpaid: ZERO};

  function groupLines(group, usage) {
    const always = group.flatAtZero || group.minimum !== null;
    const used = group.meters.filter(m => usage.has(m));
    if (!used.length && !always) return [];
    if (!group.combined) {
      const out = [];
      for (const meter of always ? group.meters : used) {
        const use = usage.get(meter) || NO_USAGE;
        const priced = charges(group, use.postpaid, basisOf(group, use), meter).map(c => [meter, c]);
        out.push(...chargeLines(meter, priced, group));
      }
      return out;
    }
    return chargeLines(group.meters[0], combined(group, usage), group);
  }
  function combined(group, usage) {
    const parts = group.meters.map(m => [m, usage.get(m) || NO_USAGE]);
    let basis = ZERO, postpaid = ZERO;
    for (const [, use] of parts) { basis = add(basis, basisOf(group, use)); postpaid = add(postpaid, use.postpaid); }
    if (!positive(postpaid)) {
      return charges(group, ZERO, basis, group.meters[0]).map(c => [group.meters[0], c]);
    }
    const charged = [];
    if (group.mode === "volume") {
      const bracket = bracketFor(group, basis);
      for (const [meter, use] of parts) {
        if (positive(use.postpaid)) charged.push([meter, charge(bracket, use.postpaid, meter, !charged.length)]);
      }
      return charged;
    }
    let start = sub(basis, postpaid);
    const flatCharged = new Set();
    for (const [meter, use] of parts) {
      if (positive(use.postpaid)) {
        const end = add(start, use.postpaid);
        for (const c of graduated(group, start, end, flatCharged, meter)) charged.push([meter, c]);
        start = end;
      }
    }
    return charged;
  }
  function chargeLines(owner, priced, group) {
    const out = priced.map(([meter, c]) =>
      line(meter, "postpaid", c.units, c.bracket.label, c.bracket.unit, round(c.precise), null));
    if (group.minimum === null && group.maximum === null) return out;
    let billed = NOTHING;
    for (const l of out) billed = add(billed, l.amount);
    if (group.minimum !== null) {
      const least = onIncrement(group.minimum, ROUND.exponent, "ceiling");
      if (cmp(billed, least) < 0) {
        const amount = sub(least, billed);
        out.push(line(owner, "minimum", ZERO, "", "", amount, null));
        return out;
      }
    }
    if (group.maximum !== null) {
      const most = onIncrement(group.maximum, ROUND.exponent, "floor");
      if (cmp(billed, most) > 0) {
        const amount = sub(most, billed);
        out.push(line(owner, "maximum", ZERO, "", "", amount, null));
      }
    }
    return out;
  }

  // A count typed for an action: plain digits with an optional decimal part.
  function count(action, text, meter) {
    const written = text.trim();
    if (!/^[0-9]+(\.[0-9]+)?$/.test(written)) throw new Refused(DATA.words.not_a_number.replace("{action}", action));
    // as `literals.count_value`: at most 10^18, and 28 digits when it has decimal places
    const [wholePart, fraction = ""] = written.split(".");
    const digits = wholePart.replace(/^0+/, "").length + fraction.length;
    if ((fraction.length > 0 && digits > 28) || cmp(dec(written), DATA_MAX) > 0) {
      throw new Refused(DATA.words.too_large.replace("{action}", action));
    }
    const value = dec(written);
    if (meter === null) return value;
    if (meter.quantityRounding === null) {
      if (!whole(value)) throw new Refused(DATA.words.not_whole.replace("{action}", action));
      return value;
    }
    return onIncrement(value, meter.quantityRounding.exponent, meter.quantityRounding.mode);
  }
  const DATA_MAX = dec(DATA.max_count);

  /* A month's quote: `usage` maps actions to counts typed (strings), `packs` lists the packs
     held at the month's start, full: [{meter, size}], drawn in that order. The bill's rows as
     `ratecard quote` prints them, its total and alerts; or `contactSales` (no number at all),
     or `error`. */
  function quote(usage, packs) {
    try {
      return priced(usage, packs || []);
    } catch (problem) {
      if (problem instanceof ContactSales) {
        return {contactSales: {meter: problem.meter, bracket: problem.bracket}};
      }
      if (problem instanceof Refused) return {error: problem.message};
      throw problem;
    }
  }
  function priced(usage, packs) {
    const totals = new Map();
    for (const [action, text] of Object.entries(usage)) {
      if (!(action in DATA.actions)) throw new Refused("unknown action " + action);
      if (text.trim() === "") continue;
      const index = DATA.actions[action];
      const meter = index === null ? null : meters[index];
      const units = count(action, text, meter);
      if (meter !== null) totals.set(meter.name, add(totals.get(meter.name) || ZERO, units));
    }
    const lots = new Map();
    packs.forEach((pack, number) => {
      const meter = byName.get(pack.meter);
      const offer = meter.packs.find(p => p.shown === pack.size);
      const lot = {id: meter.name + ":" + offer.shown + "#" + (number + 1), size: offer.size,
                   remaining: offer.size};
      if (!lots.has(meter.name)) lots.set(meter.name, []);
      lots.get(meter.name).push(lot);
    });
    const allowances = new Map(meters.map(m => [m.pool, dec(DATA.allowances[m.pool])]));
    const prepaid = new Map(), period = new Map(), alerts = [];
    for (const meter of meters) {
      const units = totals.get(meter.name);
      if (units === undefined || !positive(units)) continue;
      const held = lots.get(meter.name) || [];
      let left = units, fromAllowance = ZERO;
      const fromPacks = [];
      for (const source of DATA.order) {
        if (!positive(left)) break;
        if (source === "allowance") {
          const rest = allowances.get(meter.pool);
          fromAllowance = positive(rest) ? min(left, rest) : ZERO;
          left = sub(left, fromAllowance);
        } else if (source === "packs") {
          for (const lot of held) {
            if (!positive(left)) break;
            if (!positive(lot.remaining)) continue;
            const taken = min(left, lot.remaining);
            lot.remaining = sub(lot.remaining, taken);
            left = sub(left, taken);
            fromPacks.push([lot, taken]);
          }
        }
      }
      allowances.set(meter.pool, sub(allowances.get(meter.pool), fromAllowance));
      const lines = [];
      if (positive(fromAllowance)) lines.push(line(meter.name, "allowance", fromAllowance, "", "", NOTHING, null));
      for (const [lot, taken] of fromPacks) lines.push(line(meter.name, "pack", taken, "", "", NOTHING, lot.id));
      prepaid.set(meter.name, lines);
      period.set(meter.name, {total: units, allowance: fromAllowance, postpaid: left});
      for (const lot of held) {
        if (threshold !== null && !lot.low && cmp(lot.remaining, mul(lot.size, threshold)) < 0) {
          lot.low = true;
          alerts.push([lot, "low"]);
        }
        if (DATA.alerts.exhausted && !lot.exhausted && !positive(lot.remaining)) {
          lot.exhausted = true;
          alerts.push([lot, "exhausted"]);
        }
      }
    }
    // Every ladder over the period; where several meters reach a contact-sales bracket, the
    // one declared first is named.
    const postpaid = new Map();
    let unpriced = null;
    for (const group of groups) {
      try {
        for (const l of groupLines(group, period)) {
          if (!postpaid.has(l.meter)) postpaid.set(l.meter, []);
          postpaid.get(l.meter).push(l);
        }
      } catch (problem) {
        if (!(problem instanceof ContactSales)) throw problem;
        if (unpriced === null || rank(problem.meter) < rank(unpriced.meter)) unpriced = problem;
      }
    }
    if (unpriced !== null) throw unpriced;
    for (const [name, use] of period) {
      if (!byName.get(name).priced && positive(use.postpaid)) {
        throw new Refused(DATA.words.no_postpaid.replace("{meter}", name));
      }
    }
    const rows = [];
    let total = NOTHING;
    for (const meter of meters) {
      for (const l of [...(prepaid.get(meter.name) || []), ...(postpaid.get(meter.name) || [])]) {
        total = add(total, l.amount);
        rows.push([l.meter, l.pack === null ? l.source : "pack " + l.pack,
                   quantity(l.units), l.bracket, l.unit, money(l.amount)]);
      }
    }
    return {
      rows, total: money(round(total)), currency: DATA.currency,
      alerts: alerts.map(([lot, kind]) => "alert: pack " + lot.id + " " + kind + " (" +
        quantity(lot.remaining) + " of " + quantity(lot.size) + " left)"),
    };
  }
  function rank(name) { const m = byName.get(name); return m === undefined ? meters.length : m.index; }

  window.ratecardQuote = quote;

  // --- the form --------------------------------------------------------------------------------
  const form = document.getElementById("calculator-form");
  if (form === null) return;
  const result = document.getElementById("calculator-result");
  function show() {
    const usage = {}, packs = [];
    for (const input of form.querySelectorAll("input[data-action]")) usage[input.dataset.action] = input.value;
    let problem = null;
    for (const input of form.querySelectorAll("input[data-pack-meter]")) {
      const text = input.value.trim();
      if (text === "") continue;
      if (!/^[0-9]{1,3}$/.test(text)) { problem = DATA.words.packs_held; continue; }
      for (let i = 0n; i < BigInt(text); i++) packs.push({meter: input.dataset.packMeter, size: input.dataset.packSize});
    }
    const bill = problem === null ? quote(usage, packs) : {error: problem};
    result.replaceChildren();
    const say = (text, kind) => {
      const p = document.createElement("p");
      p.className = "calculator-" + kind;
      p.textContent = text;
      result.appendChild(p);
    };
    if (bill.error !== undefined) { say(bill.error, "error"); return; }
    if (bill.contactSales !== undefined) {
      say(DATA.words.contact_sales.replace("{meter}", bill.contactSales.meter)
          .replace("{bracket}", bill.contactSales.bracket), "contact");
      return;
    }
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    DATA.words.columns.forEach(text => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      head.appendChild(th);
    });
    const body = table.createTBody();
    for (const row of bill.rows) {
      const tr = body.insertRow();
      row.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        if (i === 2 || i === 4 || i === 5) cell.className = "num";
        if (i > 0) cell.dataset.label = DATA.words.columns[i];  // a phone shows it as a card
        cell.textContent = text;
        tr.appendChild(cell);
      });
    }
    if (!bill.rows.length) say(DATA.words.nothing, "nothing");
    else { wrap.appendChild(table); result.appendChild(wrap); }
    say(DATA.words.total + " " + bill.currency + " " + bill.total, "total");
    for (const alert of bill.alerts) say(alert, "alert");
  }
  form.hidden = false;
  const needs = document.getElementById("calculator-needs-js");
  if (needs !== null) needs.hidden = true;
  form.addEventListener("input", show);
  form.addEventListener("submit", event => { event.preventDefault(); show(); });
  show();
})();
