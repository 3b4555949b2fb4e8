//! HubSpot: verifying that a request (a webhook, a workflow action, a CRM card fetch) was
//! signed by HubSpot with the app's client secret. Not wired to a route yet.

pub mod signature;
