"""A bank account, event-sourced: commands append events, projections keep the views."""
