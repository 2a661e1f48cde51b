// The billing information form (#/billing): what appears on invoices. The API checks every
// field and names each invalid one (422 invalid_fields); the page shows each error under its
// field and lists them all at the top, each linking to its field.

import { field, h, notice, setFieldError } from "../dom.js";
import { errorNotice } from "./common.js";

const FIELDS = [
  { name: "name", required: true, autocomplete: "name" },
  { name: "company", autocomplete: "organization" },
  { name: "email", type: "email", required: true, autocomplete: "email" },
  { name: "address_line1", required: true, autocomplete: "address-line1" },
  { name: "address_line2", autocomplete: "address-line2" },
  { name: "city", required: true, autocomplete: "address-level2" },
  { name: "postal_code", autocomplete: "postal-code" },
  { name: "region", autocomplete: "address-level1" },
  { name: "country", required: true, autocomplete: "country" },
  { name: "vat_id" },
];
const OPTIONAL = new Set(FIELDS.filter((spec) => !spec.required).map((spec) => spec.name));

export async function billingPage(context) {
  const { api, t } = context;
  const saved = (await api.get("/account/billing")).billing_info ?? {};
  const summary = h("div", { tabindex: "-1", class: "summary-place" });
  const form = h(
    "form",
    { class: "billing", novalidate: true },
    FIELDS.map((spec) => field({ ...spec, label: t(`billing.${spec.name}`), value: saved[spec.name] })),
    h("button", { type: "submit", class: "primary" }, t("billing.save")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const { name } of FIELDS) {
      const value = form.elements.namedItem(name).value.trim();
      if (value || !OPTIONAL.has(name)) body[name] = name === "country" ? value.toUpperCase() : value;
      setFieldError(form, name, null);
    }
    try {
      await api.put("/account/billing-info", body);
      context.navigate("#/billing", notice("success", t("billing.saved")));
    } catch (error) {
      if (error.code !== "invalid_fields") {
        summary.replaceChildren(errorNotice(t, error));
        return summary.focus();
      }
      const problems = error.details.map((problem) => {
        const message = t.has(`field.${problem.code}`) ? t(`field.${problem.code}`) : problem.message;
        setFieldError(form, problem.field, message);
        return h("li", {}, h("a", { href: `#${problem.field}`, onclick: (click) => focusField(click, form, problem.field) },
          t("billing.problem", { field: t(`billing.${problem.field}`), message })));
      });
      summary.replaceChildren(
        h("div", { class: "notice notice-error", role: "alert" },
          h("h2", {}, t("billing.problems")), h("p", {}, t("billing.problems_count")), h("ul", {}, problems)),
      );
      summary.focus();
    }
  });
  return [h("h1", {}, t("billing.title")), h("p", {}, t("billing.intro")), summary, form];
}

function focusField(event, form, name) {
  event.preventDefault();
  form.elements.namedItem(name)?.focus();
}
