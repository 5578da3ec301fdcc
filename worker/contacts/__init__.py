"""The company's own contacts: CSV import (`contacts import`)."""
