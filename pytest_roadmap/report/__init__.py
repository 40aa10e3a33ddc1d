"""What people read: the summary, the live view, the HTML report with its timeline,
the status view, and secrets kept out of all of them."""
