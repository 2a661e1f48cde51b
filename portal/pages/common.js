// Pieces several pages show: a status, whom to contact, what an error means for the customer.

import { ApiError } from "../api.js";
import { h, notice } from "../dom.js";

const STATUS_SIGNS = { active: "✓", past_due: "!", cancelled: "✕" };

/** A subscription's status in words and a sign, coloured too but never by colour alone. */
export function statusBadge(t, status) {
  return h(
    "span",
    { class: `status status-${status.replace("_", "-")}` },
    h("span", { class: "status-sign", "aria-hidden": "true" }, STATUS_SIGNS[status] ?? "•"),
    t(`status.${status}`),
  );
}

export async function planNames(api) {
  const catalogue = await api.get("/plans");
  return Object.fromEntries(catalogue.items.map((plan) => [plan.id, plan.name]));
}

/** Whom to reach when a change is not the customer's to make here: sales, or their partner. */
export function contactBlock(t, contact) {
  if (!contact) return null;
  const { sales, partner, tell_partner_by: by } = contact;
  return h(
    "section",
    { class: "contact" },
    h("h2", {}, t("contact.title")),
    partner && h("p", {}, t("contact.partner", { name: partner.name, email: partner.email })),
    partner && by && h("p", {}, t("contact.partner_by", { date: t.date(by) })),
    sales &&
      h(
        "ul",
        {},
        h("li", {}, h("a", { href: `mailto:${sales.email}` }, t("contact.sales", { email: sales.email }))),
        sales.chat_url && h("li", {}, h("a", { href: sales.chat_url }, t("contact.chat"))),
      ),
  );
}

/** What went wrong, for the customer: the API's own explanation of a payment (in the account's
 * language), whom to contact, or the page's words. Returns a notice. */
export function errorNotice(t, error, known = {}) {
  if (!(error instanceof ApiError)) return notice("error", t("error.generic", { message: error.message }));
  if (error.code === "network") return notice("error", t("error.network"));
  const details = error.details ?? {};
  if (known[error.code]) return notice("error", known[error.code]);
  if (details.action_text) return notice("error", h("p", {}, details.message ?? error.message), h("p", {}, details.action_text));
  if (error.code === "contact_sales" || error.code === "managed_by_partner") {
    return notice("error", h("p", {}, error.message), contactBlock(t, details));
  }
  return notice("error", t("error.generic", { message: error.message }));
}

/** Where a payment waiting for the customer's bank is confirmed (as emails link to it). */
export function confirmHash(subscriptionId, paymentId) {
  return `#/subscriptions/${encodeURIComponent(subscriptionId)}/payments/${encodeURIComponent(paymentId)}/confirm`;
}

/** A 402 authentication_required sends the customer to confirm the payment with their bank. */
export function waitsForBank(error) {
  return error instanceof ApiError && error.code === "authentication_required" && error.details?.payment_id;
}
