//! A local stand-in of Salesforce's REST API (to come).
