// The payment method (#/payment-method), updated by the flow the API answers for it: the card
// form (Stripe Elements confirming our SetupIntent), PayPal's approval (there and back), or
// whom to contact (a partner, or sales).

import { h, item, notice } from "../dom.js";
import { cardForm } from "../stripe.js";
import { confirmHash, contactBlock, errorNotice, waitsForBank } from "./common.js";

const PAYPAL_SETUP = "billing.paypal-setup";

export async function paymentMethodPage(context) {
  const { api, t } = context;
  const arrived = context.paypal;
  context.paypal = null;
  const result = arrived ? await paypalReturn(context, arrived) : null;
  const billing = await api.get("/account/billing");
  const flow = billing.update_flow.flow;
  const work = h("div", { class: "method-work", "aria-live": "polite" });
  return [
    h("h1", {}, t("method.title")),
    result,
    h("dl", { class: "facts" }, item(t("method.current"), describe(t, billing.payment_method))),
    flow.startsWith("contact_")
      ? [h("p", { lang: "en" }, billing.update_flow.why), contactBlock(t, billing.contact)]
      : h(
          "section",
          { "aria-labelledby": "change-title" },
          h("h2", { id: "change-title" }, t("method.change")),
          h("div", { class: "actions" },
            h("button", { type: "button", onclick: () => start(context, "card", work) }, t("method.use_card")),
            h("button", { type: "button", onclick: () => start(context, "paypal", work) }, t("method.use_paypal"))),
          work,
        ),
  ];
}

function describe(t, method) {
  if (!method) return t("method.none");
  if (method.kind === "paypal") return t("method.paypal", { email: method.paypal_email ?? "" });
  return t("method.card", {
    brand: (method.brand ?? "").replace(/^\w/, (letter) => letter.toUpperCase()),
    last4: method.last4,
    month: String(method.exp_month).padStart(2, "0"),
    year: method.exp_year,
  });
}

async function start(context, method, work) {
  const { api, t } = context;
  work.replaceChildren(h("p", {}, t("app.loading")));
  let setup;
  try {
    setup = await api.post("/account/payment-method/setup", { method });
  } catch (error) {
    return work.replaceChildren(errorNotice(t, error));
  }
  if (setup.flow === "paypal_approval") {
    sessionStorage.setItem(PAYPAL_SETUP, setup.reference);
    work.replaceChildren(notice("info", t("method.to_paypal")));
    return location.assign(setup.approval_url);
  }
  if (setup.flow === "card_form") return showCardForm(context, setup, work);
  work.replaceChildren(h("p", { lang: "en" }, setup.why), contactBlock(t, setup.contact));
}

async function showCardForm(context, setup, work) {
  const { t } = context;
  const element = h("div", { id: "card-element", class: "card-element" });
  const problem = h("div");
  const button = h("button", { type: "submit", class: "primary" }, t("method.save_card"));
  const form = h(
    "form",
    { class: "card-form" },
    h("div", { role: "group", "aria-labelledby": "card-label" },
      h("p", { id: "card-label", class: "label" }, t("method.card_details")), element),
    problem,
    button,
  );
  work.replaceChildren(form);
  const card = await cardForm(context.config, element, t.language);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    problem.replaceChildren(notice("info", t("method.saving")));
    const confirmed = await card.save(setup.client_secret);
    if (confirmed.error) {
      button.disabled = false;
      return problem.replaceChildren(notice("error", confirmed.error.message ?? String(confirmed.error)));
    }
    const result = await save(context, { provider: "stripe", setup_intent_id: setup.reference });
    if (result.saved) return context.navigate("#/payment-method", result.notice);
    button.disabled = false;
    problem.replaceChildren(result.notice);
  });
}

/** Back from PayPal: the approved setup token saved, or the customer's cancel said. */
async function paypalReturn(context, arrived) {
  const token = sessionStorage.getItem(PAYPAL_SETUP) ?? arrived.token;
  sessionStorage.removeItem(PAYPAL_SETUP);
  if (arrived.outcome !== "return" || !token) return notice("info", context.t("method.paypal_cancelled"));
  return (await save(context, { provider: "paypal", setup_token_id: token })).notice;
}

/** The approved method saved: {saved, notice}; a retry that waits for the bank goes to its
 * confirmation page. */
async function save(context, body) {
  const { api, t } = context;
  try {
    const outcome = (await api.put("/account/payment-method", body)).retried?.attempt;
    let detail = null;
    if (outcome?.status === "succeeded") detail = h("p", {}, t("method.retried_active"));
    else if (outcome) detail = [h("p", {}, t("method.retried_failed")), outcome.message && h("p", {}, outcome.message)];
    const kind = outcome && outcome.status !== "succeeded" ? "error" : "success";
    return { saved: true, notice: notice(kind, h("p", {}, t("method.saved")), detail) };
  } catch (error) {
    if (waitsForBank(error)) context.navigate(confirmHash(error.details.subscription_id, error.details.payment_id));
    return { saved: false, notice: errorNotice(t, error) };
  }
}
