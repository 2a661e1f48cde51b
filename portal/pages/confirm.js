// A payment the bank asks the customer to confirm (3-D Secure), at
// #/subscriptions/{id}/payments/{payment_id}/confirm: where a purchase, Retry Now or a new card
// that answered 402 authentication_required sends the customer, and where the email about a
// renewal that needs it links. Stripe.js runs the bank's check; then the API is told, reads the
// payment from Stripe and records it (docs/api.md, "Payments the bank asks to confirm").

import { h, notice } from "../dom.js";
import { confirmWithBank } from "../stripe.js";
import { errorNotice } from "./common.js";

export async function confirmPage(context, subscriptionId, paymentId) {
  const { api, t } = context;
  const path = `/subscriptions/${encodeURIComponent(subscriptionId)}/payments/${encodeURIComponent(paymentId)}/authentication`;
  const confirmation = await api.get(path);
  const payment = confirmation.payment;
  const back = h("p", {}, h("a", { href: `#/subscriptions/${encodeURIComponent(subscriptionId)}` }, t("confirm.back")));
  if (!confirmation.client_secret) return [h("h1", {}, t("confirm.title")), notice("info", t("confirm.nothing")), back];

  const result = h("div");
  const button = h("button", { type: "button", class: "primary" }, t("confirm.button"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    result.replaceChildren(notice("info", t("confirm.working")));
    try {
      const answer = await confirmWithBank(context.config, confirmation, t.language);
      if (answer.error) throw new Error(answer.error.message ?? String(answer.error));
      await api.post(`${path}/complete`);
      context.navigate(`#/subscriptions/${encodeURIComponent(subscriptionId)}`, notice("success", t("confirm.done")));
    } catch (error) {
      // Read again: a refused check leaves the payment to confirm another way.
      context.navigate(location.hash, errorNotice(t, error));
    }
  });
  return [
    h("h1", {}, t("confirm.title")),
    h("p", {}, t("confirm.intro", { amount: t.money(payment.amount, payment.currency) })),
    result,
    button,
    back,
  ];
}
