"""Test scaffolding shared by the test directories (not part of the package): the toy network and
synthetic image sets (:mod:`.toy`), golden-fixture seeding and comparison (:mod:`.golden`), one
recorded forward and backward pass (:mod:`.autograd`)."""
