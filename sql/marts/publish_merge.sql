-- An incremental model: only the candidate rows built since the last publish, merged on the model's grain.
insert into {target} ({columns})
select {columns} from {candidate} where built_at > %(published_through)s
on conflict ({key}) do update set {assignments}
