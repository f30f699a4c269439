"""The benchmark's data: the two metadata sheets (:mod:`.sheets`, the one xlsx reader),
where files live (:mod:`.layout`), downloading them (:mod:`.fetch`) and checking a data
directory (:mod:`.verify`). Which pairs a run uses is :mod:`vscbench.dataset`."""
