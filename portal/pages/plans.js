// Buying a plan (#/plans): the first cycle is charged at once to the saved payment method.

import { h, notice, setFieldError } from "../dom.js";
import { confirmHash, errorNotice, waitsForBank } from "./common.js";

const CYCLES = [1, 3, 12];

export async function plansPage(context) {
  const { api, t } = context;
  const catalogue = await api.get("/plans");
  const currencies = [...new Set(catalogue.items.flatMap((plan) => Object.keys(plan.prices)))];
  const problem = h("div", { "aria-live": "polite" });

  const choices = (name, options) =>
    options.map(([value, label], index) =>
      h("div", { class: "choice" },
        h("input", { type: "radio", id: `${name}-${value}`, name, value: String(value), checked: index === 0 }),
        h("label", { for: `${name}-${value}` }, label)),
    );
  const planLabels = catalogue.items.map((plan) => [plan.id, h("span", { "data-plan": plan.id }, plan.name)]);
  const form = h(
    "form",
    { class: "purchase", novalidate: true },
    h("fieldset", {}, h("legend", {}, t("plans.plan")), choices("plan", planLabels)),
    h("fieldset", {}, h("legend", {}, t("plans.cycle")), choices("cycle", CYCLES.map((months) => [months, t(`cycle.${months}`)]))),
    h("div", { class: "field" },
      h("label", { for: "currency" }, t("plans.currency")),
      h("select", { id: "currency", name: "currency" }, currencies.map((code) => h("option", { value: code }, code)))),
    h("div", { class: "field" },
      h("label", { for: "coupon" }, t("plans.coupon")),
      h("p", { id: "coupon-error", class: "field-error", hidden: true }),
      h("input", { id: "coupon", name: "coupon", autocomplete: "off", "aria-describedby": "coupon-error" })),
    h("button", { type: "submit", class: "primary" }, t("plans.buy")),
  );

  // Each plan shows its price for the period and currency chosen.
  const showPrices = () => {
    const { cycle, currency } = form.elements;
    for (const plan of catalogue.items) {
      const price = plan.prices[currency.value]?.[cycle.value];
      form.querySelector(`[data-plan="${plan.id}"]`).textContent =
        price === undefined ? plan.name : `${plan.name}: ${t("plans.price", { amount: t.money(price, currency.value), cycle: t(`cycle.${cycle.value}`) })}`;
    }
  };
  form.addEventListener("change", showPrices);
  showPrices();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { plan, cycle, currency, coupon } = form.elements;
    const button = form.querySelector("button[type=submit]");
    const order = { plan_id: plan.value, cycle_months: Number(cycle.value), currency: currency.value };
    if (coupon.value.trim()) order.coupon = coupon.value.trim();
    setFieldError(form, "coupon", null);
    button.disabled = true;
    problem.replaceChildren(notice("info", t("plans.buying")));
    try {
      const bought = await api.post("/subscriptions", order);
      context.navigate(`#/subscriptions/${encodeURIComponent(bought.id)}`, notice("success", t("plans.bought")));
    } catch (error) {
      button.disabled = false;
      if (waitsForBank(error)) return context.navigate(confirmHash(error.details.subscription_id, error.details.payment_id));
      if (error.code === "unknown_coupon") {
        setFieldError(form, "coupon", t("field.unknown_coupon"));
        coupon.focus();
        return problem.replaceChildren();
      }
      problem.replaceChildren(
        errorNotice(t, error, {
          payment_method_required: [t("plans.needs_method"), " ", h("a", { href: "#/payment-method" }, t("action.update_method"))],
          subscription_exists: [t("plans.has_one"), " ", h("a", { href: "#/" }, t("nav.subscriptions"))],
        }),
      );
    }
  });
  return [h("h1", {}, t("plans.title")), problem, form];
}
