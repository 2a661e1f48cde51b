// Served after localstripe's Stripe.js stand-in (GET /js.stripe.com/v3/ of the local stack's
// localstripe, devstack.localstripe_server): what the billing page calls that localstripe's
// script lacks. `handleNextAction` is Stripe.js's call for a PaymentIntent in `requires_action`
// (3-D Secure); localstripe does it in `confirmCardPayment`: its dialog stands for the bank's
// page, and the customer's answer goes to localstripe's `_authenticate` route.
(function () {
  const localStripe = Stripe;
  Stripe = (apiKey) => {
    const stripe = localStripe(apiKey);
    stripe.handleNextAction = ({clientSecret}) => stripe.confirmCardPayment(clientSecret);
    return stripe;
  };
})();
