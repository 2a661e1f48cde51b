// An invoice or a credit note, at #/invoices/{number}: where the receipts and refund emails link.
// The download link the API answers lasts minutes (docs/api.md, "Invoices and credit notes"), so
// this page asks for a fresh one each time it is opened, then opens the PDF.

import { SignedOut } from "../api.js";
import { h, notice } from "../dom.js";
import { errorNotice } from "./common.js";

export async function documentPage(context, number) {
  const { api, t } = context;
  let link;
  try {
    link = await api.get(`/invoices/${encodeURIComponent(number)}`);
  } catch (error) {
    if (error instanceof SignedOut) throw error;
    return [h("h1", {}, t("document.title", { reference: number })), errorNotice(t, error, { not_found: t("document.not_found") })];
  }
  const title = link.kind === "credit_note" ? "document.credit_note" : "document.invoice";
  location.assign(link.url);
  return [
    h("h1", {}, t(title, { reference: link.reference })),
    notice("info", t("document.opening")),
    h("p", {}, h("a", { href: link.url }, t("document.download"))),
  ];
}
