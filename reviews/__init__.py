"""The activation timeline store and, later, the review web service, reports and exports."""
