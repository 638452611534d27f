-- A rebuilt model: the published table takes the candidate's rows whole. TRUNCATE inside the publish
-- transaction: readers keep the old rows until it commits (they wait on its lock, never see a half table),
-- and views or grants on the published table survive, which a rename swap would break.
truncate {target};
insert into {target} ({columns}) select {columns} from {candidate}
