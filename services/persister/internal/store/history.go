package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/firehole/firehole/services/persister/internal/schema"
)

// partitionStart is the first slot of the history partition holding slot.
func (s *Store) partitionStart(slot int64) int64 {
	w := int64(s.opt.HistoryPartitionSlots)
	return slot - slot%w
}

// ensurePartitions creates the account_history partitions rows fall into.
// Concurrent replicas may race: IF NOT EXISTS plus a retry on the caller's
// side covers it.
func (s *Store) ensurePartitions(ctx context.Context, rows []Row) error {
	need := map[int64]bool{}
	s.mu.Lock()
	for i := range rows {
		p := s.partitionStart(rows[i].Slot)
		if !s.partitions[p] {
			need[p] = true
		}
	}
	s.mu.Unlock()
	if len(need) == 0 {
		return nil
	}
	s.createMu.Lock() // this process's writers create one at a time
	defer s.createMu.Unlock()
	for p := range need {
		name := "account_history_" + strconv.FormatInt(p, 10)
		sql := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s PARTITION OF %s.account_history FOR VALUES FROM (%d) TO (%d)",
			schema.Ident(s.opt.Schema), schema.Ident(name), schema.Ident(s.opt.Schema), p, p+int64(s.opt.HistoryPartitionSlots))
		if _, err := s.pool.Exec(ctx, sql); err != nil {
			// A replica creating the same partition at the same moment makes
			// IF NOT EXISTS fail with a catalog conflict; the second try
			// finds the table.
			if _, err2 := s.pool.Exec(ctx, sql); err2 != nil {
				return fmt.Errorf("create history partition %s: %w", name, err)
			}
		}
		s.mu.Lock()
		s.partitions[p] = true
		s.mu.Unlock()
	}
	return nil
}

// HistoryPartitions lists the first slots of the existing partitions, in order.
func (s *Store) HistoryPartitions(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE n.nspname = $1 AND p.relname = 'account_history'`, s.opt.Schema)
	if err != nil {
		return nil, fmt.Errorf("list history partitions: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list history partitions: %w", err)
		}
		if v, err := strconv.ParseInt(strings.TrimPrefix(name, "account_history_"), 10, 64); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, rows.Err()
}

// DropHistoryBefore drops every partition whose slots all lie below
// newest-retention, and returns how many it dropped.
func (s *Store) DropHistoryBefore(ctx context.Context, newest int64, retention uint64) (int, error) {
	if retention == 0 {
		return 0, nil
	}
	cutoff := newest - int64(retention)
	parts, err := s.HistoryPartitions(ctx)
	if err != nil {
		return 0, err
	}
	dropped := 0
	for _, p := range parts {
		if p+int64(s.opt.HistoryPartitionSlots) > cutoff {
			break
		}
		name := "account_history_" + strconv.FormatInt(p, 10)
		if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+schema.Ident(s.opt.Schema)+"."+schema.Ident(name)); err != nil {
			return dropped, fmt.Errorf("drop history partition %s: %w", name, err)
		}
		s.mu.Lock()
		delete(s.partitions, p)
		s.mu.Unlock()
		dropped++
	}
	return dropped, nil
}

// NewestSlot is the highest slot in the slots table (0 when empty), used as
// "now" for retention.
func (s *Store) NewestSlot(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(slot), 0) FROM "+schema.Ident(s.opt.Schema)+".slots").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read newest slot: %w", err)
	}
	return v, nil
}
