-- How the request letter arrived and what it states (JSON: {"channel": "paper" | "srikandi" |
-- "email" | "web", "number", "date"}), as the front office registers it; empty when not said.
ALTER TABLE requests ADD COLUMN letter TEXT;
