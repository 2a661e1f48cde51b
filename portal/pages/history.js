// The purchase history (#/) and one subscription (#/subscriptions/{id}): status, period, next
// charge, why a payment failed and what to do, the payments; Retry Now, automatic renewal off
// and back on, buying again. Turning renewal off takes two presses from the page's opening.

import { h, item, notice } from "../dom.js";
import { confirmHash, errorNotice, planNames, statusBadge, waitsForBank } from "./common.js";

const UPDATE_METHOD = new Set([
  "update_payment_method",
  "add_funds_or_update_payment_method",
  "contact_bank_or_update_payment_method",
]);

export async function historyPage(context) {
  const { api, t } = context;
  const [subscriptions, plans] = await Promise.all([api.get("/subscriptions"), planNames(api)]);
  const cards = await Promise.all(
    subscriptions.items.map(async (sub) => card(context, sub, await payments(context, sub), plans)),
  );
  return [
    h("h1", {}, t("history.title")),
    cards.length
      ? h("ul", { class: "subscriptions" }, cards.map((article) => h("li", {}, article)))
      : [h("p", {}, t("history.empty")), h("p", {}, h("a", { href: "#/plans" }, t("history.buy")))],
  ];
}

export async function subscriptionPage(context, subscriptionId) {
  const { api, t } = context;
  const path = `/subscriptions/${encodeURIComponent(subscriptionId)}`;
  const [sub, plans] = await Promise.all([api.get(path), planNames(api)]);
  const heading = t("sub.heading", { plan: plans[sub.plan_id] ?? sub.plan_id, cycle: t(`cycle.${sub.cycle_months}`) });
  return [h("h1", {}, heading), card(context, sub, await payments(context, sub), plans, { title: false })];
}

async function payments(context, sub) {
  return (await context.api.get(`/subscriptions/${encodeURIComponent(sub.id)}/payments`)).items;
}

function card(context, sub, paid, plans, { title = true } = {}) {
  const { t } = context;
  const plan = plans[sub.plan_id] ?? sub.plan_id;
  const headingId = `sub-${sub.id}`;
  const next =
    sub.next_charge_at === null
      ? t("sub.no_next_charge")
      : t("sub.next_charge_value", { amount: t.money(sub.next_charge_tax?.gross ?? sub.next_charge_amount, sub.currency), date: t.date(sub.next_charge_at) });
  return h(
    "article",
    { class: "subscription", "aria-labelledby": title ? headingId : null },
    title &&
      h("h2", { id: headingId }, h("a", { href: `#/subscriptions/${encodeURIComponent(sub.id)}` },
        t("sub.heading", { plan, cycle: t(`cycle.${sub.cycle_months}`) }))),
    h(
      "dl",
      { class: "facts" },
      item(t("sub.status"), statusBadge(t, sub.status)),
      item(t("sub.period"), t("sub.period_value", { start: t.date(sub.current_period_start), end: t.date(sub.current_period_end) })),
      item(t("sub.next_charge"), next),
      item(t("sub.price"), t("plans.price", { amount: t.money(sub.price, sub.currency), cycle: t(`cycle.${sub.cycle_months}`) })),
      sub.channel === "direct" && item(t("sub.auto_renew"), sub.auto_renew ? t("sub.on") : t("sub.off")),
      item(t("sub.access"), sub.access ? t("sub.access_yes") : t("sub.access_no")),
      sub.status === "past_due" && item(t("sub.retries_left"), String(sub.retries_left)),
    ),
    sub.disputed_payment_id && notice("info", t("sub.disputed")),
    sub.last_failure && failureBlock(t, sub, paid),
    actions(context, sub),
    paymentsTable(context, paid),
  );
}

function failureBlock(t, sub, paid) {
  const failure = sub.last_failure;
  const waiting = paid.find(
    (payment) => payment.failure_reason === "authentication_required" && payment.status !== "succeeded",
  );
  let next = null;
  if (failure.action === "confirm_payment" && waiting) {
    next = h("a", { href: confirmHash(sub.id, waiting.id), class: "button" }, t("action.confirm_payment"));
  } else if (UPDATE_METHOD.has(failure.action)) {
    next = h("a", { href: "#/payment-method" }, t("action.update_method"));
  }
  return h(
    "div",
    { class: "failure" },
    h("dl", {}, item(t("sub.why"), failure.message), item(t("sub.what_to_do"), failure.action_text)),
    next,
  );
}

function actions(context, sub) {
  const { t } = context;
  if (sub.channel === "partner") return h("p", {}, t("sub.partner"));
  const buttons = [];
  if (sub.status === "past_due") {
    buttons.push(h("button", { type: "button", class: "primary", onclick: (event) => retry(context, sub, event.target) }, t("action.retry")));
  }
  if (sub.status === "past_due") {
    buttons.push(cancelButton(context, sub, "action.cancel_now", "cancel.now_question", t("cancel.now_effect")));
  } else if (sub.status === "active" && sub.auto_renew) {
    buttons.push(
      cancelButton(context, sub, "action.cancel_renewal", "cancel.renewal_question",
        t("cancel.renewal_effect", { date: t.date(sub.current_period_end) })),
    );
  } else if (sub.status === "active") {
    buttons.push(h("button", { type: "button", onclick: () => change(context, sub, "resume") }, t("action.resume")));
  } else {
    buttons.push(h("a", { href: "#/plans", class: "button" }, t("action.buy_again")));
  }
  return h("div", { class: "actions" }, buttons);
}

function cancelButton(context, sub, label, question, effect) {
  const { t } = context;
  const dialog = h(
    "dialog",
    { "aria-labelledby": `${sub.id}-question`, "aria-describedby": `${sub.id}-effect` },
    h("h2", { id: `${sub.id}-question` }, t(question)),
    h("p", { id: `${sub.id}-effect` }, effect),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "danger", onclick: () => { dialog.close(); change(context, sub, "cancel"); } }, t(label)),
      h("button", { type: "button", autofocus: true, onclick: () => dialog.close() }, t("action.keep")),
    ),
  );
  return [h("button", { type: "button", onclick: () => dialog.showModal() }, t(label)), dialog];
}

async function change(context, sub, what) {
  const { api, t } = context;
  const here = location.hash || "#/";
  try {
    const changed = await api.post(`/subscriptions/${encodeURIComponent(sub.id)}/${what}`);
    let message = t("result.renewal_on");
    if (what === "cancel") {
      message = changed.status === "cancelled" ? t("result.cancelled") : t("result.renewal_off", { date: t.date(changed.current_period_end) });
    }
    context.navigate(here, notice("success", message));
  } catch (error) {
    context.navigate(here, errorNotice(t, error));
  }
}

async function retry(context, sub, button) {
  const { api, t } = context;
  const here = location.hash || "#/";
  button.disabled = true;
  button.textContent = t("action.retrying");
  try {
    const retried = await api.post(`/subscriptions/${encodeURIComponent(sub.id)}/retry`);
    const outcome = retried.attempt;
    const result =
      outcome?.status === "succeeded"
        ? notice("success", t("result.retry_succeeded"))
        : notice("error", h("p", {}, t("result.retry_failed")), outcome?.message && h("p", {}, outcome.message), outcome?.action && h("p", {}, outcome.action));
    context.navigate(here, result);
  } catch (error) {
    if (waitsForBank(error)) return context.navigate(confirmHash(sub.id, error.details.payment_id));
    const limit = error.details?.limit && t("result.retry_limit", { limit: error.details.limit, date: t.date(error.details.retry_after) });
    context.navigate(here, errorNotice(t, error, { too_many_retries: limit }));
  }
}

const PAYMENT_COLUMNS = ["payments.date", "payments.kind", "payments.net", "payments.vat", "payments.amount", "payments.status", "payments.invoice"];

function paymentsTable(context, paid) {
  const { t } = context;
  if (!paid.length) return h("p", {}, t("payments.none"));
  return h(
    "table",
    { class: "payments" },
    h("caption", {}, t("payments.caption")),
    h("thead", {}, h("tr", {}, PAYMENT_COLUMNS.map((key) => h("th", { scope: "col" }, t(key))))),
    h(
      "tbody",
      {},
      paid.map((payment) =>
        h(
          "tr",
          {},
          h("td", {}, t.date(payment.created_at)),
          h("td", {}, t(`kind.${payment.kind}`)),
          h("td", {}, payment.tax ? t.money(payment.tax.net, payment.currency) : ""),
          h("td", {}, vat(t, payment)),
          h("td", {}, t.money(payment.amount, payment.currency),
            payment.refunded ? [" ", h("span", { class: "refunded" }, t("payments.refunded", { amount: t.money(payment.refunded, payment.currency) }))] : null),
          h("td", {}, t(`payment.${payment.status}`)),
          h("td", {}, payment.invoice ? invoiceButton(context, payment.invoice) : ""),
        ),
      ),
    ),
  );
}

// The VAT of a payment and its rate, or why it bears none (reverse charge, outside the EU).
function vat(t, payment) {
  const tax = payment.tax;
  if (!tax) return "";
  if (tax.rule === "reverse_charge" || tax.rule === "outside_eu") return t(`payments.${tax.rule}`);
  return t("payments.vat_at", { amount: t.money(tax.vat, payment.currency), rate: tax.rate });
}

// The invoice's PDF is downloaded from a short-lived link the API gives on each click.
function invoiceButton(context, invoice) {
  const { api, t } = context;
  const label = t("payments.download", { reference: invoice.reference });
  return h("button", {
    type: "button",
    class: "link",
    onclick: async () => {
      const found = await api.get(invoice.download);
      window.location.assign(found.url);
    },
  }, label);
}
