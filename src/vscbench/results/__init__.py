"""What a run leaves and what is computed from it: the record of a pair
(:mod:`.records`), the run directory (:mod:`.store`), what counts and its intervals
(:mod:`.counting`), the run identity (:mod:`.identity`), paired comparisons and flipped
pairs (:mod:`.compare`), the inspect log (:mod:`.inspect_log`) and the HTML report
(:mod:`.report`, an adapter over the rest)."""
