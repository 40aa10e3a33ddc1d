"""The roadmap as data: parsing ROADMAP.md, the run plan and its order. No pytest here."""
