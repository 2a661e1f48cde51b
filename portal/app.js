// The customer billing page: signs the customer in, picks the language, and shows the page the
// address's #/ fragment names (emails link to these: layers/common/billing/notifications/emails.py
// PortalPage). Plain JavaScript modules, no build step: docs/portal.md says why.

import { ApiError, SignedOut, apiClient } from "./api.js";
import {
  cognitoSignIn,
  cognitoSignOut,
  developmentSignIn,
  finishCognitoSignIn,
  forget,
  savedToken,
} from "./auth.js";
import { h, notice } from "./dom.js";
import { LANGUAGES, languageOf, translator } from "./i18n.js";
import { billingPage } from "./pages/billing.js";
import { confirmPage } from "./pages/confirm.js";
import { documentPage } from "./pages/document.js";
import { historyPage, subscriptionPage } from "./pages/history.js";
import { paymentMethodPage } from "./pages/payment-method.js";
import { plansPage } from "./pages/plans.js";

const LANGUAGE = "billing.language";
const ROUTES = [
  [/^#\/subscriptions\/([^/]+)\/payments\/([^/]+)\/confirm$/, confirmPage],
  [/^#\/subscriptions\/([^/]+)$/, subscriptionPage],
  [/^#\/invoices\/([^/]+)$/, documentPage],
  [/^#\/payment-method$/, paymentMethodPage],
  [/^#\/billing$/, billingPage],
  [/^#\/plans$/, plansPage],
  [/^(#\/?)?$/, historyPage],
];
const NAVIGATION = [
  ["#/", "nav.subscriptions"],
  ["#/plans", "nav.plans"],
  ["#/payment-method", "nav.payment_method"],
  ["#/billing", "nav.billing"],
];

const root = document.getElementById("app");
const context = {
  config: null,
  api: null,
  t: translator(languageOf(localStorage.getItem(LANGUAGE) ?? navigator.language)),
  accountLanguage: null,
  /** Shown once, above the next page (what the last action did). */
  flash: null,
  /** Back from PayPal: {outcome: "return" | "cancel", token}. */
  paypal: null,
  navigate(hash, flash = null) {
    context.flash = flash;
    if (location.hash === hash) show();
    else location.hash = hash;
  },
  announce(text) {
    const announcer = document.getElementById("announcer");
    announcer.textContent = "";
    setTimeout(() => (announcer.textContent = text), 50);
  },
};

function chosenLanguage() {
  return localStorage.getItem(LANGUAGE) ?? context.accountLanguage ?? context.t.language;
}

function setLanguage(language) {
  context.t = translator(languageOf(language));
  document.documentElement.lang = context.t.language;
  document.title = context.t("app.title");
}

function header() {
  const t = context.t;
  const current = location.hash || "#/";
  const language = h(
    "select",
    {
      id: "language",
      onchange: (event) => {
        localStorage.setItem(LANGUAGE, event.target.value);
        setLanguage(event.target.value);
        show();
      },
    },
    Object.entries(LANGUAGES).map(([code, name]) =>
      h("option", { value: code, lang: code, selected: code === t.language }, name),
    ),
  );
  return h(
    "header",
    { class: "masthead" },
    h("a", { class: "skip", href: "#main", onclick: skipToContent }, t("app.skip")),
    h("p", { class: "brand" }, t("app.title")),
    context.api &&
      h(
        "nav",
        { "aria-label": t("app.nav") },
        h(
          "ul",
          {},
          NAVIGATION.map(([hash, key]) =>
            h("li", {}, h("a", { href: hash, "aria-current": current === hash ? "page" : null }, t(key))),
          ),
        ),
      ),
    h(
      "div",
      { class: "tools" },
      h("label", { for: "language" }, t("app.language")),
      language,
      context.api && h("button", { type: "button", class: "link", onclick: signOut }, t("app.sign_out")),
    ),
  );
}

function skipToContent(event) {
  event.preventDefault();
  document.getElementById("main").focus();
}

function layout(...content) {
  const main = h("main", { id: "main", tabindex: "-1" }, ...content);
  root.replaceChildren(header(), main);
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

function failure(error) {
  if (error instanceof ApiError && error.code === "network") return context.t("error.network");
  return context.t("error.generic", { message: error.message });
}

async function show() {
  if (!context.api) return signInPage();
  setLanguage(chosenLanguage());
  const [pattern, page] = ROUTES.find(([route]) => route.test(location.hash)) ?? ROUTES.at(-1);
  const parameters = location.hash.match(pattern)?.slice(1).map(decodeURIComponent) ?? [];
  layout(h("p", { class: "loading" }, context.t("app.loading")));
  const flash = context.flash;
  context.flash = null;
  try {
    layout(flash, ...[await page(context, ...parameters)].flat());
  } catch (error) {
    if (error instanceof SignedOut) return signOut();
    layout(h("h1", {}, context.t("app.title")), notice("error", failure(error)));
  }
}

function signedIn(token) {
  context.api = apiClient(context.config.api_url, token);
}

function signOut() {
  context.api = null;
  if (context.config.sign_in.kind === "cognito") return cognitoSignOut(context.config.sign_in);
  forget();
  signInPage();
}

function signInPage(problem = null) {
  const t = context.t;
  setLanguage(t.language);
  const signIn = context.config.sign_in;
  if (signIn.kind === "cognito" && !problem) {
    layout(h("h1", {}, t("sign_in.title")), h("p", {}, t("sign_in.redirecting")));
    return cognitoSignIn(signIn, location.hash || "#/");
  }
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          signedIn(await developmentSignIn(signIn, form.elements.account.value.trim()));
          await learnLanguage();
          show();
        } catch (error) {
          signInPage(error.message);
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: "account" }, t("sign_in.account")),
      h("input", { id: "account", name: "account", required: true, autocomplete: "username", value: "demo" })),
    h("button", { type: "submit", class: "primary" }, t("sign_in.submit")),
  );
  layout(
    h("h1", {}, t("sign_in.title")),
    problem && notice("error", t("sign_in.failed", { message: problem })),
    signIn.kind === "development" ? [h("p", {}, t("sign_in.local")), form] : null,
  );
}

/** The account's language, unless the customer chose one on this page. */
async function learnLanguage() {
  try {
    const billing = await context.api.get("/account/billing");
    context.accountLanguage = billing.locale;
  } catch (error) {
    if (error instanceof SignedOut) throw error;
  }
}

/** What the address brought back from the hosted UI or from PayPal, taken off it. */
async function arrival() {
  const query = new URLSearchParams(location.search);
  if (!query.size) return;
  let hash = location.hash;
  if (context.config.sign_in.kind === "cognito") {
    hash = (await finishCognitoSignIn(context.config.sign_in, query)) ?? hash;
  }
  if (query.has("paypal")) {
    context.paypal = { outcome: query.get("paypal"), token: query.get("approval_token_id") };
    hash = "#/payment-method";
  }
  history.replaceState(null, "", location.pathname + hash);
}

async function start() {
  setLanguage(context.t.language);
  context.config = await (await fetch("config.json", { cache: "no-cache" })).json();
  try {
    await arrival();
  } catch (error) {
    return signInPage(error.message);
  }
  const token = savedToken();
  if (!token) return signInPage();
  signedIn(token);
  try {
    await learnLanguage();
  } catch {
    return signOut();
  }
  show();
}

window.addEventListener("hashchange", () => (context.api ? show() : signInPage()));
start();
