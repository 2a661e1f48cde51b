// Stripe.js, loaded once from where config.json says: Stripe's own (https://js.stripe.com/v3/)
// in AWS, localstripe's stand-in on the local stack. Card numbers go from the card element to
// Stripe directly; this page and the API only ever see the SetupIntent and PaymentIntent ids.

let loading = null;

function loaded(config) {
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = config.stripe_js_url;
    script.onload = () => resolve(window.Stripe);
    script.onerror = () => {
      loading = null;
      reject(new Error("Stripe.js did not load"));
    };
    document.head.append(script);
  });
  return loading;
}

export async function stripeFor(config, publishableKey, language) {
  const Stripe = await loaded(config);
  return Stripe(publishableKey ?? config.stripe_publishable_key, { locale: language });
}

/** A card element mounted in `container`; `save(clientSecret)` confirms our SetupIntent with
 * it: {setupIntent} or {error}. */
export async function cardForm(config, container, language) {
  const stripe = await stripeFor(config, null, language);
  const card = stripe.elements({ locale: language }).create("card");
  card.mount(container);
  return {
    save: (clientSecret) => stripe.confirmCardSetup(clientSecret, { payment_method: { card } }),
  };
}

/** The bank's 3-D Secure check of a payment, as GET …/authentication describes it: Stripe.js
 * shows the bank's page. {paymentIntent} or {error}. */
export async function confirmWithBank(config, confirmation, language) {
  const stripe = await stripeFor(config, confirmation.publishable_key, language);
  if (confirmation.status === "requires_action") {
    return stripe.handleNextAction({ clientSecret: confirmation.client_secret });
  }
  return stripe.confirmCardPayment(confirmation.client_secret, {
    payment_method: confirmation.payment_method,
  });
}
