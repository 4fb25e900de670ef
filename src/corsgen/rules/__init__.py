"""The rules: `table` is the one rule table (each rule's id, slug, severity, summary and texts),
`checks` the checks that find where a policy breaks one. A check, a target's limit or shortfall
and a RuleError raised below the rules all carry a `table.Violation`: the rule, the case, the key
and the values its texts are filled in with."""
