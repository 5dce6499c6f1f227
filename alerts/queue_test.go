package alerts

import (
	"testing"
)

func TestQueueDropsOldest(t *testing.T) {
	q := newQueue(3)
	var drops int
	for i := range 5 {
		if q.push(job{ev: eventWithID(i)}) {
			drops++
		}
	}
	if drops != 2 {
		t.Fatalf("drops = %d, want 2", drops)
	}
	q.close()
	var got []string
	for {
		j, ok := q.pop(nil)
		if !ok {
			break
		}
		got = append(got, j.ev.ID)
	}
	want := []string{"2", "3", "4"}
	if len(got) != len(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
}

func TestQueuePopStopsOnDone(t *testing.T) {
	q := newQueue(1)
	done := make(chan struct{})
	close(done)
	if _, ok := q.pop(done); ok {
		t.Fatal("pop on an empty queue with done closed returned a job")
	}
}
